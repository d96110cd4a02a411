"""Remote-signing services of our own for the tests, speaking the published request/response shapes of VNPT SmartCA
(`/sca/sp769/v1/...`) and Viettel MySign (`/mysign/vtss/service/...`), on 127.0.0.1, each leader's key on a SoftHSM2
token. The real services are out of reach of a test; these answer as the integrations in public projects read them.

    SOFTHSM2_CONF=… python -m tests.phone_services --port P --users users.json

users.json: {"<provider user id>": {"token": T, "pin": PIN, "key": LABEL, "delay": S, "outcome": "approve" |
"refuse" | "expire"}}. The leader "approves on the phone" `delay` seconds after the request: until then the status
is waiting (SmartCA message PENDING, MySign 4000); then the signature (RSA PKCS#1 v1.5 over the DigestInfo of the
hash, made on the token), or a refusal (REJECTED, 4002), or an expiry (EXPIRED, 4001).
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any

import pkcs11
import uvicorn
from asn1crypto import algos
from fastapi import FastAPI, Header, HTTPException
from pkcs11 import Attribute, Mechanism, ObjectClass

SP = {"sp_id": "covenant-test-sp", "sp_password": "sp-secret"}
CLIENT = {"client_id": "covenant-test-client", "client_secret": "client-secret", "profile_id": "adss:ras:profile:001"}


def create_app(users: dict[str, dict[str, Any]], module: str) -> FastAPI:
    app = FastAPI()
    lib = pkcs11.lib(module)
    keys: dict[str, Any] = {}
    certs: dict[str, bytes] = {}
    for user, spec in users.items():
        session = lib.get_token(token_label=spec["token"]).open(user_pin=spec["pin"])
        keys[user] = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=spec["key"])
        found = next(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: spec["key"]}))
        certs[user] = bytes(found[Attribute.VALUE])
    requests: dict[str, dict[str, Any]] = {}  # transaction id -> user, hash, started

    def outcome(transaction: str) -> tuple[str, bytes | None]:
        request = requests.get(transaction)
        if request is None:
            raise HTTPException(404, "unknown transaction")
        spec = users[request["user"]]
        if time.monotonic() - request["started"] < float(spec.get("delay", 2)):
            return "waiting", None
        if spec.get("outcome", "approve") != "approve":
            return str(spec["outcome"]), None
        info = algos.DigestInfo({"digest_algorithm": {"algorithm": "sha256"}, "digest": request["hash"]}).dump()
        return "signed", keys[request["user"]].sign(info, mechanism=Mechanism.RSA_PKCS)

    # -- VNPT SmartCA ---------------------------------------------------------------------------------------------

    def smartca_checked(body: dict[str, Any]) -> None:
        if body.get("sp_id") != SP["sp_id"] or body.get("sp_password") != SP["sp_password"]:
            raise HTTPException(401, "invalid sp_id / sp_password")

    @app.post("/sca/sp769/v1/credentials/get_certificate")
    def smartca_certificate(body: dict[str, Any]) -> dict[str, Any]:
        smartca_checked(body)
        user = str(body.get("user_id"))
        if user not in certs:
            return {"status_code": 404, "message": "USER_NOT_FOUND", "data": None}
        cert = {
            "serial_number": secrets.token_hex(8),
            "cert_subject": user,
            "cert_data": base64.b64encode(certs[user]).decode(),
        }
        return {"status_code": 200, "message": "SUCCESS", "data": {"user_certificates": [cert]}}

    @app.post("/sca/sp769/v1/signatures/sign")
    def smartca_sign(body: dict[str, Any]) -> dict[str, Any]:
        smartca_checked(body)
        user = str(body.get("user_id"))
        files = body.get("sign_files") or []
        if user not in certs or len(files) != 1 or files[0].get("sign_type") != "hash":
            return {"status_code": 400, "message": "BAD_REQUEST", "data": None}
        transaction = secrets.token_hex(12)
        requests[transaction] = {
            "user": user,
            "hash": bytes.fromhex(files[0]["data_to_be_signed"]),
            "started": time.monotonic(),
        }
        return {
            "status_code": 200,
            "message": "SUCCESS",
            "data": {"transaction_id": transaction, "tran_code": transaction[:6]},
        }

    @app.post("/sca/sp769/v1/signatures/sign/{transaction}/status")
    def smartca_status(transaction: str, body: dict[str, Any]) -> dict[str, Any]:
        smartca_checked(body)
        state, signature = outcome(transaction)
        if state == "waiting":
            return {
                "status_code": 200,
                "message": "PENDING",
                "data": {"transaction_id": transaction, "signatures": None},
            }
        if state == "refuse":
            return {"status_code": 200, "message": "REJECTED", "data": None}
        if state == "expire":
            return {"status_code": 200, "message": "EXPIRED", "data": None}
        value = base64.b64encode(signature or b"").decode()
        return {
            "status_code": 200,
            "message": "SUCCESS",
            "data": {"signatures": [{"doc_id": "1", "signature_value": value}]},
        }

    # -- Viettel MySign -------------------------------------------------------------------------------------------

    def mysign_user(authorization: str | None) -> str:
        if not authorization or not authorization.startswith("Bearer tok-"):
            raise HTTPException(401, "invalid access token")
        return authorization.removeprefix("Bearer tok-")

    @app.post("/mysign/vtss/service/ras/v1/login")
    def mysign_login(body: dict[str, Any]) -> Any:
        if any(body.get(k) != v for k, v in CLIENT.items()):
            raise HTTPException(401, "invalid client")
        user = str(body.get("user_id"))
        if user not in certs:
            raise HTTPException(400, "unknown user")
        return {"access_token": f"tok-{user}", "token_type": "Bearer", "expires_in": 3600}

    @app.post("/mysign/vtss/service/certificates/info")
    def mysign_certificates(body: dict[str, Any], authorization: str | None = Header(default=None)) -> Any:
        user = mysign_user(authorization)
        return [{"credential_id": f"cred-{user}", "cert": {"certificates": [base64.b64encode(certs[user]).decode()]}}]

    @app.post("/mysign/vtss/service/signHash")
    def mysign_sign(body: dict[str, Any], authorization: str | None = Header(default=None)) -> Any:
        user = mysign_user(authorization)
        if body.get("credentialID") != f"cred-{user}" or len(body.get("hash") or []) != 1 or body.get("async") != 1:
            raise HTTPException(400, "bad signHash request")
        transaction = secrets.token_hex(12)
        requests[transaction] = {"user": user, "hash": base64.b64decode(body["hash"][0]), "started": time.monotonic()}
        return {"transactionId": transaction}

    @app.post("/mysign/vtss/service/requests/status")
    def mysign_status(body: dict[str, Any], authorization: str | None = Header(default=None)) -> Any:
        mysign_user(authorization)
        state, signature = outcome(str(body.get("transactionId")))
        codes = {"waiting": 4000, "expire": 4001, "refuse": 4002}
        if state in codes:
            return {"status": codes[state], "message": state}
        return {"status": 1, "signatures": [base64.b64encode(signature or b"").decode()]}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", type=Path, required=True)
    parser.add_argument("--module", default="/usr/lib/softhsm/libsofthsm2.so")
    args = parser.parse_args()
    users = json.loads(args.users.read_text(encoding="utf-8"))
    uvicorn.run(create_app(users, args.module), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

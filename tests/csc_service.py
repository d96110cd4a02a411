"""A small CSC-compatible signing service for the tests, on 127.0.0.1, backed by a SoftHSM2 token.

    SOFTHSM2_CONF=… python -m tests.csc_service --port P --token T --pin PIN --key-label K --credential C
        --oauth TOKEN --delay SECONDS

credentials/info gives the token's certificate; credentials/authorize answers 202 (waiting for the leader's
approval) until --delay seconds after a hash was first presented, then the SAD bound to that hash;
signatures/signHash signs the hash on the token (RSA PKCS#1 v1.5 over the DigestInfo). A bearer token is required.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import time

import pkcs11
import uvicorn
from asn1crypto import algos
from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pkcs11 import Attribute, Mechanism, ObjectClass


def create_app(args: argparse.Namespace) -> FastAPI:
    app = FastAPI()
    token = pkcs11.lib(args.module).get_token(token_label=args.token)
    session = token.open(user_pin=args.pin)
    key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=args.key_label)
    certificate = next(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: args.key_label}))
    cert_der = bytes(certificate[Attribute.VALUE])
    first_seen: dict[str, float] = {}
    sads: dict[str, str] = {}

    def check(authorization: str | None, credential: object) -> None:
        if authorization != f"Bearer {args.oauth}":
            raise HTTPException(401, "invalid bearer token")
        if credential != args.credential:
            raise HTTPException(400, "unknown credentialID")

    @app.post("/csc/v1/credentials/info")
    def info(body: dict, authorization: str | None = Header(default=None)) -> dict:  # type: ignore[type-arg]
        check(authorization, body.get("credentialID"))
        return {
            "key": {"status": "enabled", "algo": [algos.SignedDigestAlgorithmId("sha256_rsa").dotted], "len": 2048},
            "cert": {"status": "valid", "certificates": [base64.b64encode(cert_der).decode()]},
            "authMode": "explicit",
            "SCAL": "2",
            "multisign": 1,
        }

    @app.post("/csc/v1/credentials/authorize")
    def authorize(body: dict, authorization: str | None = Header(default=None)):  # type: ignore[no-untyped-def,type-arg]
        check(authorization, body.get("credentialID"))
        hashes = tuple(body.get("hash") or ())
        if len(hashes) != 1:
            raise HTTPException(400, "one hash per authorisation")
        seen = first_seen.setdefault(hashes[0], time.monotonic())
        if time.monotonic() - seen < args.delay:
            return JSONResponse({"status": "waiting for the signer's approval"}, status_code=202)
        sad = sads.setdefault(hashes[0], secrets.token_urlsafe(24))
        return {"SAD": sad, "expiresIn": 300}

    @app.post("/csc/v1/signatures/signHash")
    def sign_hash(body: dict, authorization: str | None = Header(default=None)) -> dict:  # type: ignore[type-arg]
        check(authorization, body.get("credentialID"))
        hashes = body.get("hash") or []
        if len(hashes) != 1 or sads.get(hashes[0]) != body.get("SAD"):
            raise HTTPException(400, "the SAD does not authorise this hash")
        digest = base64.b64decode(hashes[0])
        info = algos.DigestInfo({"digest_algorithm": {"algorithm": "sha256"}, "digest": digest}).dump()
        signature = key.sign(info, mechanism=Mechanism.RSA_PKCS)
        return {"signatures": [base64.b64encode(signature).decode()]}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--token", "--pin", "--key-label", "--credential", "--oauth"):
        parser.add_argument(name, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--module", default="/usr/lib/softhsm/libsofthsm2.so")
    args = parser.parse_args()
    uvicorn.run(create_app(args), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

"""Timestamps and long-term validation material: PAdES B-T at signing, B-LTA at finalisation.

B-T: each signature carries an RFC 3161 signature timestamp from the round's TSA.
B-LTA: when the round is complete, a Document Security Store (certificates and CRLs of every signature and
timestamp) is added, then a document timestamp over everything, so the package can be validated offline
after the certificates have expired.

The demo PKI's TSA signs tokens in-process with pyHanko's local time stamper (a real RFC 3161 token from a
real TSA key and certificate, without an HTTP hop); a round whose trust names `tsa: https://…` uses that
service instead.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from asn1crypto import cms, core, pem
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.general import as_signing_certificate, get_pyca_cryptography_hash, simple_cms_attribute
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore


def _der(data: bytes) -> bytes:
    return pem.unarmor(data)[2] if pem.detect(data) else data


class KeptKeyTimeStamper(DummyTimeStamper):
    """pyHanko's in-process TSA (the demo's), with its RSA key parsed once: pyHanko re-parses and re-checks it for
    every timestamp (~50 ms of each signature's ~90 ms timestamp). Signs exactly what pyHanko's would."""

    def __init__(self, tsa_cert: asn1_x509.Certificate, tsa_key: asn1_keys.PrivateKeyInfo, **kwargs: Any) -> None:
        super().__init__(tsa_cert=tsa_cert, tsa_key=tsa_key, **kwargs)
        key = serialization.load_der_private_key(tsa_key.dump(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("the demo time-stamping authority's key must be RSA")
        self._key = key

    def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, dt: datetime) -> tuple[bytes, cms.CMSAttributes]:
        hash_algo = get_pyca_cryptography_hash(md_algorithm)
        digest = hashes.Hash(hash_algo)
        digest.update(tst_info_data)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                simple_cms_attribute("signing_certificate", as_signing_certificate(self.tsa_cert)),
                simple_cms_attribute("message_digest", digest.finalize()),
            ]
        )
        return self._key.sign(signed_attrs.dump(), PKCS1v15(), hash_algo), signed_attrs


def local_timestamper(tsa_cert_pem: bytes, tsa_key_pem: bytes, chain: list[asn1_x509.Certificate]) -> TimeStamper:
    return _local_timestamper(tsa_cert_pem, tsa_key_pem, tuple(c.dump() for c in chain))


@lru_cache(maxsize=8)
def _local_timestamper(tsa_cert_pem: bytes, tsa_key_pem: bytes, chain: tuple[bytes, ...]) -> TimeStamper:
    """One per TSA key and chain in a process (a worker stamps every round with it)."""
    cert = asn1_x509.Certificate.load(_der(tsa_cert_pem))
    key = asn1_keys.PrivateKeyInfo.load(_der(tsa_key_pem))
    certs = SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(der) for der in chain])
    return KeptKeyTimeStamper(cert, key, certs_to_embed=certs)


def demo_timestamper(pki_dir: Path, roots: list[asn1_x509.Certificate]) -> TimeStamper:
    return local_timestamper((pki_dir / "tsa.pem").read_bytes(), (pki_dir / "tsa.key").read_bytes(), roots)


def tsa_reply(timestamper: TimeStamper, query: bytes) -> bytes | None:
    """An RFC 3161 reply (DER) of an in-process TSA to a time-stamp query; None when the query does not parse."""
    from asn1crypto import tsp

    if not isinstance(timestamper, DummyTimeStamper) or len(query) > 8192:
        return None
    try:
        request = tsp.TimeStampReq.load(query)
        request.native  # noqa: B018 - parses it all now, so a malformed query is refused here
    except ValueError:
        return None
    return bytes(timestamper.request_tsa_response(request).dump())


def serve_demo_tsa(pki_dir: Path, port: int) -> None:
    """The demo PKI's TSA over HTTP (POST /tsa, RFC 3161) on 127.0.0.1:`port`, until interrupted: for signing tools
    that take a TSA address (pyhanko-cli, covenant agent)."""
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    from signing.pki import demo_roots
    from signing.validation import load_roots

    timestamper = demo_timestamper(pki_dir, load_roots(demo_roots(pki_dir)))

    @Request.application
    def app(request: Request) -> Response:
        if request.path != "/tsa" or request.method != "POST":
            return Response("POST an RFC 3161 query to /tsa\n", status=404, mimetype="text/plain")
        reply = tsa_reply(timestamper, request.get_data(cache=False)[:8193])
        if reply is None:
            return Response("not a time-stamp query\n", status=400, mimetype="text/plain")
        return Response(reply, mimetype="application/timestamp-reply")

    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


def http_timestamper(url: str) -> TimeStamper:
    return HTTPTimeStamper(url)


def load_crls(blobs: list[bytes]) -> list[asn1_crl.CertificateList]:
    return [asn1_crl.CertificateList.load(_der(b)) for b in blobs]


def archival_context(
    roots: list[asn1_x509.Certificate], crls: list[asn1_crl.CertificateList], online: bool = False
) -> ValidationContext:
    """Everything needed to prove validity later: from local knowledge only (the demo PKI's CRL), or, for a
    round on a real PKI, fetched now from the OCSP responders and CRL distribution points the certificates name."""
    return ValidationContext(trust_roots=roots, crls=crls, allow_fetching=online, revocation_mode="hard-fail")


def add_long_term_validation(
    pdf: bytes,
    roots: list[asn1_x509.Certificate],
    crls: list[asn1_crl.CertificateList],
    timestamper: TimeStamper,
    online: bool = False,
) -> bytes:
    """DSS with the validation data of every signature, then a document timestamp (PAdES B-LTA).

    pyHanko's add_validation_info writes one revision per signature, and every later validation re-reads each
    of those DSS updates (the LTA check of a 60-signature file spent its time there): here the data of all
    signatures goes into one DSS revision, built with pyHanko's own collect/supply functions.
    """
    import asyncio

    from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info

    context = archival_context(roots, crls, online)
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    writer = IncrementalPdfFileWriter.from_reader(reader)

    async def supply() -> None:
        for sig in reader.embedded_signatures:
            paths = await collect_validation_info(sig, context)
            DocumentSecurityStore.supply_dss_in_writer(
                writer, sig.pkcs7_content.hex().encode("ascii"), validation_context=context, paths=paths
            )

    asyncio.run(supply())
    with_dss = io.BytesIO()
    writer.write(with_dss)
    stamp_writer = IncrementalPdfFileWriter(io.BytesIO(with_dss.getvalue()), strict=False)
    out = signers.PdfTimeStamper(timestamper, field_name="ArchiveTimestamp").timestamp_pdf(
        stamp_writer, "sha256", validation_context=context, bytes_reserved=16384
    )
    return out.getvalue()


def long_term_check(pdf: bytes, roots: list[asn1_x509.Certificate]) -> dict[str, str]:
    """ETSI EN 319 102-1 long-term (LTA) validation of every signature, offline, at the machine's present time.

    The chain of document timestamps is the evidence record; only what the file carries (DSS, embedded
    certificates and tokens) and the given roots are used, nothing is fetched. Certificates of signers may have
    expired: what counts is that the signatures were valid when the timestamps proved they existed. The
    timestamps' own certificates are validated without revocation checks (an offline archive cannot obtain
    current revocation status for its newest TSA; that is the stated policy). Returns field name → ETSI
    sub-indication ("OK" when passed). A file with no document timestamp gets NO_POE, even today.
    What changed after each signature is not judged here but by validate_signatures, which the caller runs too.
    """
    import asyncio

    from pyhanko.sign.validation import ades
    from pyhanko.sign.validation.policy_decl import (
        PdfSignatureValidationSpec,
        RevinfoOnlineFetchingRule,
        RevocationInfoGatheringSpec,
        SignatureValidationSpec,
    )
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule
    from pyhanko_certvalidator.registry import SimpleTrustManager

    from signing.validation import KEY_USAGE

    def policy(rule: RevocationCheckingRule) -> CertValidationPolicySpec:
        return CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=roots),
            revinfo_policy=CertRevTrustPolicy(
                RevocationCheckingPolicy(ee_certificate_rule=rule, intermediate_ca_cert_rule=rule)
            ),
        )

    signature_spec = SignatureValidationSpec(
        cert_validation_policy=policy(RevocationCheckingRule.CHECK_IF_DECLARED),
        ts_cert_validation_policy=policy(RevocationCheckingRule.NO_CHECK),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY),
        key_usage_settings=KEY_USAGE,
    )
    # No difference analysis here: the caller's plain validation pass (validate_signatures) has already judged
    # every revision against the certification's DocMDP rules and each signature's own modification level.
    # With a diff policy, pyHanko's evidence-record step re-runs the analysis of every signature in the file
    # for each signature it validates (quadratic: 30 units took 5.7 s per signature).
    spec = PdfSignatureValidationSpec(signature_spec, diff_policy=None)

    async def run() -> dict[str, str]:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        out = {}
        for sig in reader.embedded_regular_signatures:
            result = await ades.ades_lta_validation(sig, spec)
            out[str(sig.field_name)] = str(getattr(result.ades_subindic, "name", "UNKNOWN"))
        return out

    return asyncio.run(run())


def renew_archive_timestamp(
    pdf: bytes, roots: list[asn1_x509.Certificate], crls: list[asn1_crl.CertificateList], timestamper: TimeStamper
) -> bytes:
    """Add the validation data of the newest document timestamp to the DSS and cover everything with a new
    document timestamp: done before the newest TSA certificate expires, it extends the file's provable life."""
    from signing.validation import dss_revocation

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    dss_crls, dss_ocsps = dss_revocation(reader)
    context = ValidationContext(
        trust_roots=roots, crls=[*crls, *dss_crls], ocsps=dss_ocsps, allow_fetching=False, revocation_mode="hard-fail"
    )
    out = io.BytesIO()
    signers.PdfTimeStamper(timestamper, field_name=None).update_archival_timestamp_chain(
        reader, context, in_place=False, output=out
    )
    return out.getvalue()


def archive_trust_material(pdfs: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """What an archive keeps beside its signed files for a generic validator: the time-stamping authorities'
    certificates (PEM) and every CRL (DER) in the files' Document Security Stores, each once, in first-seen order."""
    import pikepdf
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    tsa: list[bytes] = []
    crls: list[bytes] = []
    for pdf in pdfs:
        try:
            doc = pikepdf.open(io.BytesIO(pdf))
        except pikepdf.PdfError:
            continue  # not a readable PDF: the package's verification names it
        with doc:
            dss = doc.Root.get("/DSS")
            if dss is None:
                continue
            for stream in dss.get("/Certs", []):
                cert = x509.load_der_x509_certificate(bytes(stream.read_bytes()))
                try:
                    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
                except x509.ExtensionNotFound:
                    continue
                pem_bytes = cert.public_bytes(serialization.Encoding.PEM)
                if ExtendedKeyUsageOID.TIME_STAMPING in usage and pem_bytes not in tsa:
                    tsa.append(pem_bytes)
            for stream in dss.get("/CRLs", []):
                der = bytes(stream.read_bytes())
                if der not in crls:
                    crls.append(der)
    return tsa, crls

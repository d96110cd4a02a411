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
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import add_validation_info
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore


def _der(data: bytes) -> bytes:
    return pem.unarmor(data)[2] if pem.detect(data) else data


def local_timestamper(tsa_cert_pem: bytes, tsa_key_pem: bytes, chain: list[asn1_x509.Certificate]) -> TimeStamper:
    cert = asn1_x509.Certificate.load(_der(tsa_cert_pem))
    key = asn1_keys.PrivateKeyInfo.load(_der(tsa_key_pem))
    return DummyTimeStamper(tsa_cert=cert, tsa_key=key, certs_to_embed=SimpleCertificateStore.from_certs(chain))


def demo_timestamper(pki_dir: Path, roots: list[asn1_x509.Certificate]) -> TimeStamper:
    return local_timestamper((pki_dir / "tsa.pem").read_bytes(), (pki_dir / "tsa.key").read_bytes(), roots)


def http_timestamper(url: str) -> TimeStamper:
    return HTTPTimeStamper(url)


def load_crls(blobs: list[bytes]) -> list[asn1_crl.CertificateList]:
    return [asn1_crl.CertificateList.load(_der(b)) for b in blobs]


def archival_context(roots: list[asn1_x509.Certificate], crls: list[asn1_crl.CertificateList]) -> ValidationContext:
    """Everything needed to prove validity later, from local knowledge only (nothing is fetched)."""
    return ValidationContext(trust_roots=roots, crls=crls, allow_fetching=False, revocation_mode="hard-fail")


def add_long_term_validation(
    pdf: bytes, roots: list[asn1_x509.Certificate], crls: list[asn1_crl.CertificateList], timestamper: TimeStamper
) -> bytes:
    """DSS with the validation data of every signature, then a document timestamp (PAdES B-LTA)."""
    context = archival_context(roots, crls)
    current = pdf
    reader = PdfFileReader(io.BytesIO(current), strict=False)
    for index in range(len(reader.embedded_signatures)):
        sig = PdfFileReader(io.BytesIO(current), strict=False).embedded_signatures[index]
        out = add_validation_info(sig, context, in_place=False)
        current = out.getvalue()
    writer = IncrementalPdfFileWriter(io.BytesIO(current), strict=False)
    out = signers.PdfTimeStamper(timestamper, field_name="ArchiveTimestamp").timestamp_pdf(
        writer, "sha256", validation_context=context, bytes_reserved=16384
    )
    return out.getvalue()

"""Signers: turn a key the leader holds into a signature in their own field, as a new incremental revision."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps import TimeStamper

from signing.appearance import stamp_lines, stamp_style


class SignerError(Exception):
    pass


def load_pkcs12(path: Path, passphrase_file: Path) -> signers.SimpleSigner:
    """A PKCS#12 signer; the passphrase is read from a file, never taken from a command line."""
    try:
        passphrase = passphrase_file.read_bytes().strip()
    except OSError as exc:
        raise SignerError(f"{passphrase_file}: cannot read the passphrase file: {exc.strerror}") from None
    try:
        signer = signers.SimpleSigner.load_pkcs12(str(path), passphrase=passphrase)
    except OSError as exc:
        raise SignerError(f"{path}: cannot read the PKCS#12 file: {exc.strerror}") from None
    if signer is None:
        raise SignerError(f"{path}: not a PKCS#12 file for this passphrase")
    return signer


def sign_field(
    pdf: bytes,
    field_name: str,
    signer: signers.Signer,
    *,
    signer_name: str,
    title: str,
    unit: str,
    when: dt.datetime | None = None,
    timestamper: TimeStamper | None = None,
) -> bytes:
    """Fill the existing field `field_name` with a PAdES signature and a visible Vietnamese stamp; with a
    timestamper, the signature carries an RFC 3161 signature timestamp (PAdES B-T)."""
    when = when or dt.datetime.now(dt.UTC)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        name=signer_name,
        location=unit,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    pdf_signer = signers.PdfSigner(
        meta, signer, timestamper=timestamper, stamp_style=stamp_style(stamp_lines(signer_name, title, unit, when))
    )
    out = pdf_signer.sign_pdf(writer, existing_fields_only=True, bytes_reserved=16384)
    return out.getvalue()

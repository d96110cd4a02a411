"""Signers: turn a key the leader holds into a signature in their own field, as a new incremental revision."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import TimeStamper

from signing.appearance import Stamp, person_stamp, stamp_for
from signing.errors import SignerError
from signing.patches import KeptAttributes, KeptKeySigner


def load_pkcs12(path: Path, passphrase_file: Path | None, passphrase: bytes | None = None) -> signers.SimpleSigner:
    """A PKCS#12 signer; the passphrase comes from a file or was typed at a prompt, never from a command line."""
    if passphrase is None:
        if passphrase_file is None:
            raise SignerError(f"{path}: no passphrase given")
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
    return KeptKeySigner(signer, validated=True)  # pyHanko read the key with cryptography's PKCS#12 loader


@contextmanager
def open_pkcs11(
    module: str, token_label: str, key_label: str, pin_file: Path | None, *, pin: str | None = None
) -> Iterator[signers.Signer]:
    """A signer whose key stays on a PKCS#11 token (USB token, HSM, SoftHSM2); the certificate is read from the
    token under the key's label. The PIN comes from a file; the session is closed on leaving."""
    from pkcs11 import PKCS11Error
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    class TokenSigner(KeptAttributes, PKCS11Signer):
        pass

    if pin is None:
        if pin_file is None:
            raise SignerError("no PIN for the token: give a PIN file")
        try:
            pin = pin_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SignerError(f"{pin_file}: cannot read the PIN file: {exc.strerror}") from None
    if not Path(module).is_file():
        raise SignerError(f"{module}: no such PKCS#11 module")
    where = f"PKCS#11 token {token_label!r}, key {key_label!r}"
    try:
        session = open_pkcs11_session(module, token_criteria=TokenCriteria(label=token_label), user_pin=pin)
    except (PKCS11Error, SigningError) as exc:
        raise SignerError(f"{where}: {_pkcs11_reason(exc)}") from None
    try:
        signer = TokenSigner(session, cert_label=key_label, key_label=key_label)
        signer.signing_cert  # noqa: B018 - loads key and certificate now, so a wrong label fails here
    except (PKCS11Error, SigningError) as exc:
        session.close()
        raise SignerError(f"{where}: {_pkcs11_reason(exc)}") from None
    try:
        yield signer
    finally:
        session.close()


def _pkcs11_reason(exc: Exception) -> str:
    names = {"PinIncorrect": "wrong PIN", "PinLenRange": "wrong PIN", "PinLocked": "the PIN is locked"}
    cause = exc.__cause__ or exc
    return names.get(type(cause).__name__, str(cause) or type(cause).__name__)


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
    signature_image: bytes | None = None,
    seal_image: bytes | None = None,
    bytes_reserved: int = 16384,
    stamp: Stamp | None = None,
) -> bytes:
    """Fill the existing field `field_name` with a PAdES signature and a visible Vietnamese stamp (with the
    signer's signature image and the unit's seal when given); with a timestamper, the signature carries an
    RFC 3161 signature timestamp (PAdES B-T). `stamp` replaces the person's stamp (an organisation's seal, the
    issuing signature's number)."""
    when = when or dt.datetime.now(dt.UTC)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        name=signer_name,
        location=unit,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    stamp = stamp or person_stamp(signer_name, title, unit, when, signature_image, seal_image)
    style = stamp_for(pdf, field_name, stamp)
    pdf_signer = signers.PdfSigner(meta, signer, timestamper=timestamper, stamp_style=style)
    out = pdf_signer.sign_pdf(writer, existing_fields_only=True, bytes_reserved=bytes_reserved)
    return out.getvalue()

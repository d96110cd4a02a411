"""Signers: turn a key the leader holds into a signature in their own field, as a new incremental revision."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from asn1crypto import cms
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError, get_pyca_cryptography_hash, simple_cms_attribute
from pyhanko.sign.timestamps import TimeStamper

from signing.appearance import stamp_for, stamp_lines


class SignerError(Exception):
    pass


# What pyHanko puts in a PAdES signature's signed attributes when no CAdES extras are asked for.
PADES_FIXED_ATTRIBUTES = {"content_type", "message_digest", "signing_certificate_v2"}


class KeptAttributes(signers.Signer):
    """Keeps pyHanko's PAdES signed attributes encoded. pyHanko builds them from Python values for every
    signature (content type, message digest, signing-certificate-v2 over the signer's certificate), and asn1crypto
    re-encodes a built value on every dump: ~17 ms of a signature's CMS. In PAdES only the message digest changes
    from one signature to the next, so the attributes pyHanko built once are kept in their encoded form and the
    digest is put in place; tests/test_signers.py checks the result is byte for byte pyHanko's."""

    _attribute_templates: dict[tuple[str, str, bool], list[cms.CMSAttribute]]

    async def signed_attrs(  # type: ignore[no-untyped-def]
        self,
        data_digest: bytes,
        digest_algorithm: str,
        attr_settings=None,
        content_type="data",
        use_pades=False,
        timestamper=None,
        dry_run=False,
        is_pdf_sig=True,
    ) -> cms.CMSAttributes:
        def pyhankos_own():  # type: ignore[no-untyped-def]
            return super(KeptAttributes, self).signed_attrs(
                data_digest, digest_algorithm, attr_settings, content_type, use_pades, timestamper, dry_run, is_pdf_sig
            )

        cades = getattr(attr_settings, "cades_signed_attrs", None)
        if not use_pades or cades is not None or self.signed_attr_prov_spec is not None:
            return await pyhankos_own()  # may carry a signing time, a content timestamp, a commitment
        templates = self.__dict__.setdefault("_attribute_templates", {})
        key = (digest_algorithm, content_type, is_pdf_sig)
        if key not in templates:
            built = await pyhankos_own()
            template = [cms.CMSAttribute.load(attribute.dump()) for attribute in built]  # encoded once
            if {a["type"].native for a in template} != PADES_FIXED_ATTRIBUTES:
                return built
            templates[key] = template
        digest = cms.CMSAttribute.load(simple_cms_attribute("message_digest", data_digest).dump())
        return cms.CMSAttributes([digest if a["type"].native == "message_digest" else a for a in templates[key]])


class KeptKeySigner(KeptAttributes, signers.SimpleSigner):
    """pyHanko's SimpleSigner re-parses (and re-validates) its private key for every signature, about 80 ms for
    an RSA-2048 key against well under 1 ms for the signing operation itself; this one parses it once."""

    def __init__(self, base: signers.SimpleSigner) -> None:
        super().__init__(
            signing_cert=base.signing_cert,
            signing_key=base.signing_key,
            cert_registry=base.cert_registry,
            signature_mechanism=base.signature_mechanism,
        )
        self._key = serialization.load_der_private_key(base.signing_key.dump(), password=None)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hash_algo)
        if mechanism == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hash_algo))
        return super().sign_raw(data, digest_algorithm)  # other schemes: pyHanko's own path


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
    return KeptKeySigner(signer)


@contextmanager
def open_pkcs11(module: str, token_label: str, key_label: str, pin_file: Path) -> Iterator[signers.Signer]:
    """A signer whose key stays on a PKCS#11 token (USB token, HSM, SoftHSM2); the certificate is read from the
    token under the key's label. The PIN comes from a file; the session is closed on leaving."""
    from pkcs11 import PKCS11Error
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    class TokenSigner(KeptAttributes, PKCS11Signer):
        pass

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
) -> bytes:
    """Fill the existing field `field_name` with a PAdES signature and a visible Vietnamese stamp (with the
    signer's signature image and the unit's seal when given); with a timestamper, the signature carries an
    RFC 3161 signature timestamp (PAdES B-T)."""
    when = when or dt.datetime.now(dt.UTC)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        name=signer_name,
        location=unit,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    style = stamp_for(pdf, field_name, stamp_lines(signer_name, title, unit, when), signature_image, seal_image)
    pdf_signer = signers.PdfSigner(meta, signer, timestamper=timestamper, stamp_style=style)
    out = pdf_signer.sign_pdf(writer, existing_fields_only=True, bytes_reserved=16384)
    return out.getvalue()

"""Remote signing where the key never leaves the signer (pyHanko's interrupted signing).

Server: `prepare` fills the slot's field with a signature placeholder and the visible stamp, hashes the revision and
returns the CMS signed attributes (over that hash and the signer's certificate); `finish` embeds the CMS the signer
sent back, adding the signature timestamp (B-T) on the way. Signer: `sign_attributes` turns the signed attributes
into a CMS with the key it holds (PKCS#12 file, PKCS#11 token): only that CMS crosses the network.
The prepared state is plain data (`Prepared`), so it can be stored between the two requests.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
from dataclasses import asdict, dataclass
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.appearance import Stamp, person_stamp, stamp_for
from signing.errors import RemoteSigningError

DIGEST = "sha256"
RESERVED = 16384  # bytes of /Contents: a CMS with its chain and a timestamp token fits with room to spare


@dataclass
class Prepared:
    """What the server keeps between `prepare` and `finish`."""

    pdf: bytes  # the revision with the placeholder, as it will be signed
    document_digest: str  # hex
    reserved_start: int
    reserved_end: int
    signed_attrs: bytes  # DER, what the signer signs
    certificate: bytes  # DER of the signer's certificate the attributes commit to

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("pdf", "signed_attrs", "certificate"):
            data[key] = base64.b64encode(data[key]).decode("ascii")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prepared:
        values = dict(data)
        for key in ("pdf", "signed_attrs", "certificate"):
            values[key] = base64.b64decode(values[key])
        return cls(**values)


def load_certificate(der: bytes) -> asn1_x509.Certificate:
    try:
        cert = asn1_x509.Certificate.load(der)
        cert.native  # noqa: B018 - parses the whole structure now, so garbage fails here
    except (ValueError, TypeError) as exc:
        raise RemoteSigningError(f"not an X.509 certificate: {exc}") from None
    return cert


def prepare(
    pdf: bytes,
    field_name: str,
    certificate_der: bytes,
    *,
    signer_name: str,
    title: str,
    unit: str,
    when: dt.datetime | None = None,
    signature_image: bytes | None = None,
    seal_image: bytes | None = None,
    stamp: Stamp | None = None,
) -> Prepared:
    """The next revision with `field_name` filled by a placeholder, and the attributes the signer must sign."""
    cert = load_certificate(certificate_der)
    external = signers.ExternalSigner(cert, SimpleCertificateStore.from_certs([cert]), signature_value=512)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name, subfilter=SigSeedSubFilter.PADES, md_algorithm=DIGEST, name=signer_name, location=unit
    )
    stamp = stamp or person_stamp(
        signer_name, title, unit, when or dt.datetime.now(dt.UTC), signature_image, seal_image
    )
    style = stamp_for(pdf, field_name, stamp)
    pdf_signer = signers.PdfSigner(meta, external, stamp_style=style)

    async def run() -> Prepared:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        digest, _tbs, output = await pdf_signer.async_digest_doc_for_signing(
            writer, existing_fields_only=True, bytes_reserved=RESERVED
        )
        attrs = await external.signed_attrs(digest.document_digest, DIGEST, use_pades=True)
        output.seek(0)
        return Prepared(
            pdf=output.read(),
            document_digest=digest.document_digest.hex(),
            reserved_start=digest.reserved_region_start,
            reserved_end=digest.reserved_region_end,
            signed_attrs=attrs.dump(),
            certificate=cert.dump(),
        )

    return asyncio.run(run())


def sign_attributes(signer: signers.Signer, signed_attrs: bytes) -> bytes:
    """On the signer's side: a CMS over the server's signed attributes, made with the key the signer holds."""
    try:
        attrs = cms.CMSAttributes.load(signed_attrs)
        attrs.native  # noqa: B018
    except (ValueError, TypeError) as exc:
        raise RemoteSigningError(f"the server sent no valid signed attributes: {exc}") from None
    result = asyncio.run(signer.async_sign_prescribed_attributes(DIGEST, signed_attrs=attrs))
    return result.dump()


def finish(prepared: Prepared, cms_der: bytes, timestamper: TimeStamper | None = None) -> bytes:
    """Embed the signer's CMS into the prepared revision (with a signature timestamp if a TSA is given)."""
    try:
        content = cms.ContentInfo.load(cms_der)
        signer_info = content["content"]["signer_infos"][0]
        sent_attrs = signer_info["signed_attrs"].contents  # the SET's body: in the CMS it is tagged [0]
        signature = signer_info["signature"].native
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise RemoteSigningError(f"not a CMS signature: {exc}") from None
    if sent_attrs != cms.CMSAttributes.load(prepared.signed_attrs).contents:
        raise RemoteSigningError("the CMS does not sign the attributes this server prepared for this revision")

    async def run() -> bytes:
        if timestamper is not None:
            cert = load_certificate(prepared.certificate)
            external = signers.ExternalSigner(cert, SimpleCertificateStore.from_certs([cert]))
            unsigned = await external.unsigned_attrs(
                DIGEST, signature, cms.CMSAttributes.load(prepared.signed_attrs), timestamper=timestamper
            )
            if unsigned is not None:
                signer_info["unsigned_attrs"] = unsigned
        digest = PreparedByteRangeDigest(
            document_digest=bytes.fromhex(prepared.document_digest),
            reserved_region_start=prepared.reserved_start,
            reserved_region_end=prepared.reserved_end,
        )
        output = io.BytesIO(prepared.pdf)
        await PdfTBSDocument.async_finish_signing(output, digest, content)
        return output.getvalue()

    try:
        return asyncio.run(run())
    except ValueError as exc:  # e.g. a CMS larger than the reserved space
        raise RemoteSigningError(f"the signature cannot be embedded: {exc}") from None

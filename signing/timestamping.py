"""The signature timestamp added on receipt, for signing tools that cannot ask a TSA themselves (poppler's
`pdfsig -sign` has no such option) when the round requires PAdES B-T.

When the tool left no room in `/Contents` for the token (poppler 22.12 writes its CMS without any padding), the
server adds instead a document timestamp (`/DocTimeStamp`, RFC 3161 over the whole file as the signer submitted
it) in one revision of its own, right after the signature: ETSI EN 319 142-1 counts a document timestamp that
covers a signature as that signature's B-T timestamp. That revision is judged by the same chain rule as every other
(one new invisible field, nothing else).

What is added, and why it is safe: a signature's `/Contents` (the CMS) lies outside its `/ByteRange`, so the
signed bytes do not include it. PAdES B-T is exactly a B-B signature whose CMS carries, as an *unsigned* attribute,
an RFC 3161 timestamp token over the signature value (`signature-time-stamp`, ETSI EN 319 122-1 §5.3). This module
writes that attribute into the CMS in place, inside the room the signing tool reserved in `/Contents` (same file
length, same byte range, same signed attributes and signature value), and nothing else. The caller judges the
result again by the whole acceptance rule before storing it; a CMS without room for the token is refused, never
moved.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import io

from asn1crypto import cms
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.timestamps import TimeStamper

from signing.errors import SignatureRejected

TOKEN_DIGEST = "sha256"


def _contents_span(pdf: bytes, field: str) -> tuple[int, int]:
    """Where the hex string of `field`'s /Contents lies: the gap between the two parts of its /ByteRange (the
    offsets of its `<` and one past its `>`)."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    for sig in reader.embedded_signatures:
        if sig.field_name == field:
            start, first_len, second_start, _second_len = (int(x) for x in sig.sig_object["/ByteRange"])
            if start != 0 or not 0 < first_len < second_start <= len(pdf):
                break
            if pdf[first_len : first_len + 1] != b"<" or pdf[second_start - 1 : second_start] != b">":
                break
            return first_len, second_start
    raise SignatureRejected(f"no signature in field {field!r} whose contents could be read", code="signature.broken")


def add_signature_timestamp(pdf: bytes, field: str, timestamper: TimeStamper) -> bytes:
    """`pdf` with an RFC 3161 signature timestamp added to the CMS of the signature in `field`, in place."""
    gap_start, gap_end = _contents_span(pdf, field)
    hex_text = pdf[gap_start + 1 : gap_end - 1]
    try:
        # the DER CMS, then the zero bytes that pad the reserved room (asn1crypto reads the first value only)
        content = cms.ContentInfo.load(binascii.unhexlify(b"".join(hex_text.split())), strict=False)
        signer_info = content["content"]["signer_infos"][0]
        signature = signer_info["signature"].native
    except (ValueError, TypeError, KeyError, IndexError, binascii.Error) as exc:
        raise SignatureRejected(
            f"the signature in {field!r} is not a readable CMS: {exc}", code="signature.broken"
        ) from None
    unsigned = list(signer_info["unsigned_attrs"]) if signer_info["unsigned_attrs"].native else []
    if any(attr["type"].native == "signature_time_stamp_token" for attr in unsigned):
        return pdf  # it has one already
    try:
        token = asyncio.run(timestamper.async_timestamp(hashlib.new(TOKEN_DIGEST, signature).digest(), TOKEN_DIGEST))
    except Exception as exc:  # the TSA's client raises what its transport raises: name it, never a traceback
        raise SignatureRejected(
            f"the round's time-stamping authority could not give a timestamp ({type(exc).__name__}: {exc}); "
            "submit again in a moment",
            code="signature.timestamp",
        ) from None
    unsigned.append(cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [token]}))
    signer_info["unsigned_attrs"] = cms.CMSAttributes(unsigned)
    encoded = binascii.hexlify(content.dump(force=True))
    room = len(hex_text)
    if len(encoded) > room:
        raise SignatureRejected(
            f"the signing tool left no room for a timestamp in the signature ({room // 2} bytes reserved, "
            f"{len(encoded) // 2} needed): sign again with a time-stamping authority, or with more room reserved",
            code="signature.no_room",
        )
    stamped = pdf[: gap_start + 1] + encoded + b"0" * (room - len(encoded)) + pdf[gap_end - 1 :]
    assert len(stamped) == len(pdf)
    return stamped


def receipt_timestamp_field(field: str) -> str:
    return f"timestamp-{field}"


def add_document_timestamp(pdf: bytes, field: str, timestamper: TimeStamper) -> bytes:
    """`pdf` with one more revision: a document timestamp in a new invisible field named after `field`."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    stamper = signers.PdfTimeStamper(timestamper, field_name=receipt_timestamp_field(field))
    try:
        out = stamper.timestamp_pdf(writer, TOKEN_DIGEST)
    except Exception as exc:  # the TSA's client raises what its transport raises
        raise SignatureRejected(
            f"the round's time-stamping authority could not give a timestamp ({type(exc).__name__}: {exc}); "
            "submit again in a moment",
            code="signature.timestamp",
        ) from None
    return out.getvalue()


def differs_only_in_contents(original: bytes, stamped: bytes, field: str) -> bool:
    """Whether `stamped` is `original` with only the /Contents of `field`'s signature rewritten (what
    `add_signature_timestamp` does): a repeated submission of the original is then the same signature."""
    if len(original) != len(stamped):
        return False
    try:
        gap_start, gap_end = _contents_span(original, field)
    except (SignatureRejected, ValueError, KeyError):
        return False
    return original[: gap_start + 1] == stamped[: gap_start + 1] and original[gap_end - 1 :] == stamped[gap_end - 1 :]

"""A round's trust as the stages use it: its roots, revocation lists, time-stamping authority, certification key."""

from __future__ import annotations

from pathlib import Path

from pyhanko.sign.timestamps import TimeStamper

from signing.validation import load_roots
from workflow.context import Ctx, round_model
from workflow.model import TrustSpec
from workflow.storage import RoundRow


def certifier_paths(ctx: Ctx) -> tuple[Path, Path]:
    pki = ctx.settings.pki_dir
    return pki / "secretariat.p12", pki / "secretariat.pass"


def round_crls(ctx: Ctx, rnd: RoundRow) -> list[bytes]:
    """Revocation lists known locally for the round's trust (the demo PKI's CRL; a real PKI's are fetched)."""
    from signing.pki import current_demo_crl

    if is_demo(ctx, rnd) and (ctx.settings.pki_dir / "root.crl").is_file():
        return [current_demo_crl(ctx.settings.pki_dir)]
    return []


def is_demo(ctx: Ctx, rnd: RoundRow) -> bool:
    return round_model(ctx, rnd).signing.trust == "demo"


def is_online(ctx: Ctx, rnd: RoundRow) -> bool:
    """A round on a real PKI fetches revocation status (OCSP, CRL) from the services its certificates name;
    the demo PKI's CRL travels with the round instead."""
    return isinstance(round_model(ctx, rnd).signing.trust, TrustSpec)


def tsa_source(ctx: Ctx, rnd: RoundRow) -> str | None:
    """Where the round's timestamps come from: a service URL, "demo" (the demo PKI's TSA), or None."""
    trust = round_model(ctx, rnd).signing.trust
    if isinstance(trust, TrustSpec):
        return trust.tsa
    return "demo" if (ctx.settings.pki_dir / "tsa.pem").is_file() else None


def round_timestamper(ctx: Ctx, rnd: RoundRow) -> TimeStamper | None:
    """The round's RFC 3161 time-stamping authority, or None when the round has none."""
    from signing.ltv import demo_timestamper, http_timestamper

    source = tsa_source(ctx, rnd)
    if source == "demo":
        return demo_timestamper(ctx.settings.pki_dir, load_roots([ctx.blobs.get(h) for h in rnd.trust_roots]))
    return http_timestamper(source) if source else None

"""The cluster directory: a cluster and its units as they stand from year to year, and the rounds made from it.

Each unit keeps who leads it now (the signer of its rounds), its deputies and its clerk (văn thư), with their
e-mail, certificate pin and remote-signing user id where known. A change of leader is an edit of the unit. The
directory is filled by hand or imported from any round file (its units and signers); a new year's round is a draft
made from the cluster's last round with the directory's units, a new year and the chair and vice-chair of the
rotation (workflow/drafts.py), which the office then edits and launches.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationError
from typing_extensions import TypedDict  # pydantic (FastAPI answers) needs this one on Python 3.11

from signing.names import slugify
from workflow.context import Ctx
from workflow.drafts import DraftView, create_draft_with_files, draft_from_yaml, skeleton, usable
from workflow.errors import DirectoryError, NotFound, RoundFileError
from workflow.model import SLUG, CertificatePin, Email, Guidance, NonEmpty, Strict
from workflow.stages.check import DRAFT, Problem, check_round_data, validation_problems
from workflow.storage import ClusterRow, DirectoryUnitRow, RoundRow, aware, utcnow

MAX_UNITS = 200
MAX_DEPUTIES = 10


class DirectoryPerson(Strict):
    """A unit's leader or deputy, as the round file's signer says them, and their remote-signing user id."""

    name: NonEmpty
    title: NonEmpty
    on_behalf_of: str | None = None
    email: Email
    certificate: CertificatePin = Field(default_factory=CertificatePin)
    remote_user_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class DirectoryClerk(Strict):
    name: NonEmpty
    email: Email
    certificate: CertificatePin = Field(default_factory=CertificatePin)


class DirectoryUnit(Strict):
    id: Annotated[str, Field(pattern=SLUG)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    short_name: Annotated[str, Field(min_length=1, max_length=120)]
    place: Annotated[str, Field(min_length=1, max_length=200)]
    leader: DirectoryPerson
    deputies: Annotated[list[DirectoryPerson], Field(max_length=MAX_DEPUTIES)] = Field(default_factory=list)
    clerk: DirectoryClerk | None = None


class DirectoryCluster(Strict):
    """A cluster as the office types it: name, sector and the guidance it works under."""

    name: Annotated[str, Field(min_length=1, max_length=300)]
    sector: Annotated[str, Field(min_length=1, max_length=300)]
    guidance: Guidance | None = None


class UnitView(TypedDict):
    id: str
    name: str
    short_name: str
    place: str
    leader: dict[str, Any]
    deputies: list[dict[str, Any]]
    clerk: dict[str, Any] | None
    updated_by: str
    updated_at: str


class ClusterView(TypedDict):
    id: str
    name: str
    sector: str
    guidance: dict[str, Any] | None
    units: list[UnitView]
    rounds: list[dict[str, Any]]  # the rounds launched for this cluster, newest first
    updated_by: str
    updated_at: str


class ClusterSummary(TypedDict):
    id: str
    name: str
    sector: str
    units: int
    updated_at: str


def _unit_view(row: DirectoryUnitRow) -> UnitView:
    return {
        "id": row.unit_id,
        "name": row.name,
        "short_name": row.short_name,
        "place": row.place,
        "leader": row.leader,
        "deputies": row.deputies,
        "clerk": row.clerk,
        "updated_by": row.updated_by,
        "updated_at": aware(row.updated_at).isoformat(),
    }


def _cluster_view(s: Any, row: ClusterRow) -> ClusterView:
    rounds = s.query(RoundRow).filter_by(cluster_slug=row.id).order_by(RoundRow.year.desc(), RoundRow.created_at.desc())
    return {
        "id": row.id,
        "name": row.name,
        "sector": row.sector,
        "guidance": row.guidance,
        "units": [_unit_view(u) for u in row.units],
        "rounds": [{"round_id": r.id, "year": r.year, "status": r.status} for r in rounds],
        "updated_by": row.updated_by,
        "updated_at": aware(row.updated_at).isoformat(),
    }


def _cluster(s: Any, cluster_id: str) -> ClusterRow:
    row = s.get(ClusterRow, cluster_id) if isinstance(cluster_id, str) and len(cluster_id) <= 120 else None
    if row is None:
        raise NotFound(f"no cluster {cluster_id} in the directory")
    return row


def list_clusters(ctx: Ctx) -> list[ClusterSummary]:
    with ctx.session() as s:
        return [
            {
                "id": c.id,
                "name": c.name,
                "sector": c.sector,
                "units": len(c.units),
                "updated_at": aware(c.updated_at).isoformat(),
            }
            for c in s.query(ClusterRow).order_by(ClusterRow.name)
        ]


def get_cluster(ctx: Ctx, cluster_id: str) -> ClusterView:
    with ctx.session() as s:
        return _cluster_view(s, _cluster(s, cluster_id))


def save_cluster(ctx: Ctx, data: object, actor: str, cluster_id: str | None = None) -> ClusterView:
    """A new cluster typed by the office (its id is its name's slug, as a round's), or an edit of one (its name,
    sector and guidance; the id stays)."""
    if not isinstance(data, dict):
        raise DirectoryError([Problem(DRAFT, 1, (), "a cluster is a mapping")])
    try:
        cluster = DirectoryCluster.model_validate(data)
    except ValidationError as exc:
        raise DirectoryError(validation_problems(exc)) from None
    now = utcnow()
    guidance = cluster.guidance.model_dump(mode="json") if cluster.guidance else None
    with ctx.session() as s:
        if cluster_id is None:
            new_id = slugify(cluster.name)[:120]
            if not new_id:
                raise DirectoryError([Problem(DRAFT, 1, ("name",), "the name has no letter or digit")])
            if s.get(ClusterRow, new_id) is not None:
                raise DirectoryError(
                    [Problem(DRAFT, 1, ("name",), f"the directory has a cluster {new_id!r} already: edit it")]
                )
            row = ClusterRow(id=new_id, name=cluster.name, sector=cluster.sector, updated_by=actor)
            s.add(row)
        else:
            row = _cluster(s, cluster_id)
        row.name, row.sector, row.guidance = cluster.name, cluster.sector, guidance
        row.updated_by, row.updated_at = actor, now
        s.flush()
        return _cluster_view(s, row)


def nested_form(fields: dict[str, str]) -> dict[str, Any]:
    """An HTML form's fields named by their path in the entry (`leader.certificate.sha256`, `deputies.0.name`) as
    the entry: empty fields left out, sections and list entries left with nothing in them dropped, list entries in
    their numbers' order."""
    tree: dict[str, Any] = {}
    for name, value in fields.items():
        text = value.strip()
        parts = name.split(".")
        if not text or len(parts) > 4 or not all(parts):
            continue
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = text
    return _lists(tree)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    node = {k: _lists(v) for k, v in node.items()}
    node = {k: v for k, v in node.items() if v not in ({}, [])}
    if node and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def unit_from_form(fields: dict[str, str]) -> dict[str, Any]:
    """The directory page's unit form as a unit: an empty deputy row is no deputy, an empty clerk no clerk."""
    unit = nested_form(fields)
    deputies = unit.get("deputies", [])
    unit["deputies"] = deputies if isinstance(deputies, list) else [deputies]
    unit.setdefault("leader", {})
    return unit


def _person(signer: Any, remote_user_id: str | None = None) -> dict[str, Any]:
    person = {"name": signer.name, "title": signer.title, "email": signer.email}
    if signer.on_behalf_of:
        person["on_behalf_of"] = signer.on_behalf_of
    pin = signer.certificate.model_dump(exclude_none=True)
    if pin:
        person["certificate"] = pin
    if remote_user_id:
        person["remote_user_id"] = remote_user_id
    return person


def import_round(ctx: Ctx, data: object, actor: str) -> ClusterView:
    """The cluster and units of a round file (any year) into the directory: a new cluster is made, a known one
    updated. A unit's leader becomes the round's signer (a change of leader is an edit of the unit: its deputies
    and clerk stay)."""
    model, problems = check_round_data(usable(data), check_deadline=False)
    if model is None:
        raise RoundFileError(problems)
    cluster_id = slugify(model.cluster.name)[:120]
    now = utcnow()
    with ctx.session() as s:
        row = s.get(ClusterRow, cluster_id)
        if row is None:
            row = ClusterRow(id=cluster_id, name=model.cluster.name, sector=model.cluster.sector, updated_by=actor)
            s.add(row)
        row.name, row.sector, row.updated_by, row.updated_at = model.cluster.name, model.cluster.sector, actor, now
        if model.cluster.guidance is not None:
            row.guidance = model.cluster.guidance.model_dump(mode="json")
        known = {u.unit_id: u for u in row.units}
        for position, unit in enumerate(model.units):
            entry = known.get(unit.id)
            if entry is None:
                entry = DirectoryUnitRow(unit_id=unit.id, position=len(row.units), deputies=[], updated_by=actor)
                row.units.append(entry)
            remote = entry.leader.get("remote_user_id") if entry.leader else None
            same_leader = bool(entry.leader) and entry.leader.get("name") == unit.signer.name
            entry.name, entry.short_name, entry.place = unit.name, unit.short_name, unit.place
            entry.leader = _person(unit.signer, remote if same_leader else None)  # type: ignore[arg-type]
            if unit.clerk is not None:  # the round's clerk is the unit's now (without one, the directory's stays)
                entry.clerk = unit.clerk.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
            entry.position = position
            entry.updated_by, entry.updated_at = actor, now
        s.flush()
        return _cluster_view(s, row)


def save_unit(ctx: Ctx, cluster_id: str, unit_id: str, data: object, actor: str) -> ClusterView:
    """A unit as the directory's form gives it, whole (a new one is added at the end)."""
    if not isinstance(data, dict):
        raise DirectoryError([Problem(DRAFT, 1, (), "a unit is a mapping")])
    try:
        unit = DirectoryUnit.model_validate({**data, "id": data.get("id", unit_id)})
    except ValidationError as exc:
        raise DirectoryError(validation_problems(exc)) from None
    if unit.id != unit_id:
        raise DirectoryError([Problem(DRAFT, 1, ("id",), f"the unit's id is {unit_id!r}: it cannot be renamed")])
    now = utcnow()
    with ctx.session() as s:
        row = _cluster(s, cluster_id)
        entry = next((u for u in row.units if u.unit_id == unit_id), None)
        if entry is None:
            if len(row.units) >= MAX_UNITS:
                raise DirectoryError([Problem(DRAFT, 1, (), f"a cluster has at most {MAX_UNITS} units")])
            entry = DirectoryUnitRow(unit_id=unit_id, position=len(row.units), updated_by=actor)
            row.units.append(entry)
        entry.name, entry.short_name, entry.place = unit.name, unit.short_name, unit.place
        entry.leader = unit.leader.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        entry.deputies = [d.model_dump(mode="json", exclude_none=True, exclude_defaults=True) for d in unit.deputies]
        entry.clerk = (
            unit.clerk.model_dump(mode="json", exclude_none=True, exclude_defaults=True) if unit.clerk else None
        )
        entry.updated_by, entry.updated_at = actor, now
        row.updated_by, row.updated_at = actor, now
        s.flush()
        return _cluster_view(s, row)


def remove_unit(ctx: Ctx, cluster_id: str, unit_id: str, actor: str) -> ClusterView:
    with ctx.session() as s:
        row = _cluster(s, cluster_id)
        entry = next((u for u in row.units if u.unit_id == unit_id), None)
        if entry is None:
            raise NotFound(f"no unit {unit_id} in cluster {cluster_id}")
        row.units.remove(entry)
        for position, unit in enumerate(row.units):
            unit.position = position
        row.updated_by, row.updated_at = actor, utcnow()
        s.flush()
        return _cluster_view(s, row)


def _last_round_data(ctx: Ctx, s: Any, cluster_id: str) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """The cluster's last round file as a draft, and per unit what the directory does not keep but a round carries
    on: its seal image (name and bytes, from the round's stored images)."""
    last = (
        s.query(RoundRow)
        .filter_by(cluster_slug=cluster_id)
        .order_by(RoundRow.year.desc(), RoundRow.created_at.desc())
        .first()
    )
    if last is None:
        return None, {}
    data = draft_from_yaml(ctx.blobs.get(last.round_file).decode("utf-8"))
    seals = {sl.unit_id: sl.seal_image for d in last.documents for sl in d.slots if sl.seal_image}
    carried: dict[str, dict[str, Any]] = {}
    for unit in data.get("units") or []:
        if isinstance(unit, dict) and isinstance(unit.get("seal_image"), str) and unit.get("id") in seals:
            carried[unit["id"]] = {"seal_image": unit["seal_image"], "bytes": ctx.blobs.get(seals[unit["id"]])}
    return data, carried


def new_year_draft(ctx: Ctx, cluster_id: str, year: int, chair: str, vice_chair: str | None, actor: str) -> DraftView:
    """A draft for `year`: the cluster's last round (its conference, covenant, documents and signing, for the office
    to change), with the directory's cluster and units, each signed by its leader, and the chair and vice-chair
    given (the rotation). With no round yet, the other sections are empty, to be typed (drafts.skeleton)."""
    with ctx.session() as s:
        row = _cluster(s, cluster_id)
        ids = [u.unit_id for u in row.units]
        for role, unit_id in (("chair", chair), ("vice_chair", vice_chair)):
            if unit_id is not None and unit_id not in ids:
                raise DirectoryError([Problem(DRAFT, 1, (role,), f"no unit {unit_id!r} in the cluster")])
        if chair == vice_chair:
            raise DirectoryError([Problem(DRAFT, 1, ("vice_chair",), "the vice-chair is the chair")])
        last, carried = _last_round_data(ctx, s, cluster_id)
        data = last or skeleton(year)
        files: dict[str, bytes] = {}
        cluster: dict[str, Any] = {"name": row.name, "sector": row.sector, "year": year}
        if row.guidance:
            cluster["guidance"] = Guidance.model_validate(row.guidance).model_dump(mode="json")
        units = []
        for entry in row.units:
            signer = {k: v for k, v in entry.leader.items() if k != "remote_user_id"}
            unit: dict[str, Any] = {
                "id": entry.unit_id,
                "name": entry.name,
                "short_name": entry.short_name,
                "place": entry.place,
            }
            if entry.unit_id == chair:
                unit["role"] = "chair"
            elif entry.unit_id == vice_chair:
                unit["role"] = "vice_chair"
            unit["signer"] = signer
            if entry.unit_id in carried:  # the unit's seal, as last year's round had it
                unit["seal_image"] = carried[entry.unit_id]["seal_image"]
                files[unit["seal_image"]] = carried[entry.unit_id]["bytes"]
            if entry.clerk:
                unit["clerk"] = dict(entry.clerk)
            units.append(unit)
    rest = _rest(data)
    conference = rest.get("conference")
    if isinstance(conference, dict) and isinstance(conference.get("elections"), dict):
        # the conference elects the rotation's chair and vice-chair
        elections: dict[str, Any] = {"chair": chair}
        if vice_chair is not None:
            elections["vice_chair"] = vice_chair
        conference["elections"] = elections
    data = {"version": data.get("version", 1), "cluster": cluster, "units": units, **rest}
    return create_draft_with_files(ctx, data, files, actor)


def _rest(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("version", "cluster", "units")}

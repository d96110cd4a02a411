"""The round file, version 1 (design §3), as pydantic models.

Structural rules (types, required fields, unknown keys) live here; rules that relate several parts of the
file (points that sum, unit ids that must exist) live in `roundfile.semantic_problems` so that each problem
can be reported against the exact field it concerns.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

SLUG = r"^[a-z0-9][a-z0-9-]{0,39}$"
_DURATION = re.compile(r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?)?$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_duration(text: str) -> dt.timedelta:
    """ISO 8601 durations of days, hours and minutes (P7D, P1DT12H, PT30M)."""
    m = _DURATION.match(text)
    if not m or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"not an ISO 8601 duration such as P2D or PT12H: {text!r}")
    return dt.timedelta(days=int(m["d"] or 0), hours=int(m["h"] or 0), minutes=int(m["m"] or 0))


class Strict(BaseModel):
    """Unknown keys are an error: a typo must not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Every free text has a bound (pydantic names it in the error: "String should have at most 4000 characters"); a
# paragraph of minutes is a few hundred characters.
NonEmpty = Annotated[str, Field(min_length=1, max_length=4000)]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


def _inside(value: str, info: ValidationInfo) -> str:
    """A file the round names lies in the round file's own folder (or below it): no absolute path, no "..",
    nothing a server would resolve elsewhere. Not judged again in a round already launched (see parse_round)."""
    if info.context and info.context.get("stored"):
        return value
    text = value.replace("\\", "/")
    parts = text.split("/")
    if (
        text.startswith("/")
        or re.match(r"^[A-Za-z]:", text)
        or "\x00" in text
        or any(part in ("..", "~") or part.startswith("~") for part in parts)
    ):
        raise ValueError(
            f"{value!r}: must be a path inside the round file's folder (no absolute path, no '..', no '~')"
        )
    return value


InsidePath = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_inside)]
Points = Annotated[Decimal, Field(gt=0, max_digits=6, decimal_places=2)]


class Guidance(Strict):
    number: NonEmpty
    date: dt.date
    issuer: NonEmpty


class Cluster(Strict):
    name: NonEmpty
    sector: NonEmpty
    year: Annotated[int, Field(ge=2000, le=2100)]
    guidance: Guidance | None = None


class CertificatePin(Strict):
    """Who may sign for this signer: one certificate (sha256), or any certificate for one identity number (the
    subject's serialNumber or UID, e.g. "CCCD:001080001234" or the number alone), or with exactly this name."""

    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    serial_number: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z:._/ -]+$")] | None = None
    subject_cn: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class Signer(Strict):
    name: NonEmpty
    title: NonEmpty
    on_behalf_of: str | None = None
    email: Email
    certificate: CertificatePin = Field(default_factory=CertificatePin)
    signature_image: InsidePath | None = None  # PNG of the handwritten signature, relative to the round file


class Clerk(Strict):
    """The unit's clerk (văn thư): applies the organisation's digital signature (its seal) after the leader has
    signed and, for the chair unit, issues the documents (number and date). Decree 30/2020, Art. 32-33."""

    name: NonEmpty
    email: Email
    # the organisation's certificate; without a pin, one whose name (CN) is the unit's name
    certificate: CertificatePin = Field(default_factory=CertificatePin)


class Unit(Strict):
    id: Annotated[str, Field(pattern=SLUG)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    short_name: Annotated[str, Field(min_length=1, max_length=120)]
    place: NonEmpty
    role: Literal["chair", "vice_chair", "member"] = "member"
    signer: Signer
    seal_image: InsidePath | None = None  # PNG of the unit's red seal, relative to the round file
    clerk: Clerk | None = None


class Person(Strict):
    unit: NonEmpty
    name: NonEmpty
    title: NonEmpty


class Elections(Strict):
    chair: NonEmpty
    vice_chair: str | None = None


class Conference(Strict):
    date: dt.date
    start: str
    end: str
    place: NonEmpty
    online: bool = False
    chair: Person
    secretary: Person
    attendees: list[Person] = Field(default_factory=list, max_length=300)
    agenda: list[NonEmpty] = Field(default_factory=list, max_length=300)
    proceedings: list[NonEmpty] = Field(default_factory=list, max_length=300)
    elections: Elections | None = None
    decisions: list[NonEmpty] = Field(default_factory=list, max_length=300)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> str:
        # YAML 1.1 reads an unquoted 11:30 as the base-60 integer 690; give it back its meaning.
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value // 60:02d}:{value % 60:02d}"
        if not isinstance(value, str) or not _HHMM.match(value):
            raise ValueError('expected a time of day as HH:MM, e.g. "08:00"')
        hours, minutes = value.split(":")
        return f"{int(hours):02d}:{minutes}"


class Item(Strict):
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    points: Points


class CriteriaGroup(Strict):
    title: NonEmpty
    points: Points
    items: list[Item] = Field(default_factory=list, max_length=300)


class Bonus(Strict):
    text: NonEmpty
    max_points: Points


class Penalty(Strict):
    text: NonEmpty
    points: Points


class CovenantText(Strict):
    motto: NonEmpty
    goals: list[NonEmpty] = Field(default_factory=list, max_length=300)
    criteria: Annotated[list[CriteriaGroup], Field(min_length=1, max_length=100)]
    bonus: list[Bonus] = Field(default_factory=list, max_length=300)
    penalty: list[Penalty] = Field(default_factory=list, max_length=300)
    commitments: list[NonEmpty] = Field(default_factory=list, max_length=300)


class CovenantSigners(Strict):
    signers: Literal["all"] | list[NonEmpty] = "all"


MINUTES_SIGNERS: tuple[Literal["chair", "secretary"], ...] = ("chair", "secretary")


class MinutesSigners(Strict):
    signers: list[Literal["chair", "secretary"]] = Field(default_factory=lambda: list(MINUTES_SIGNERS))


class Documents(Strict):
    covenant: CovenantSigners = Field(default_factory=CovenantSigners)
    minutes: MinutesSigners = Field(default_factory=MinutesSigners)


class TrustSpec(Strict):
    roots: Annotated[list[InsidePath], Field(min_length=1, max_length=20)]
    tsa: str | None = None


class Signing(Strict):
    order: Literal["parallel", "sequential"] = "parallel"
    # An absolute time, or an ISO 8601 duration counted from the launch (so an example round can be
    # launched again next year without editing it). See the note in README.
    deadline: dt.datetime | str
    reminders: list[str] = Field(default_factory=list, max_length=300)
    trust: Literal["demo"] | TrustSpec = "demo"
    # each leader's signature on the covenant is followed by the unit's organisation signature (its clerk's)
    seals: bool = False
    # when the chair unit has a clerk, it issues each document (number from the cluster's register, date) after
    # every signature; false leaves the number blank
    issue: bool = True

    @field_validator("deadline")
    @classmethod
    def _deadline(cls, value: dt.datetime | str) -> dt.datetime | str:
        if isinstance(value, str):
            parse_duration(value)
        elif value.tzinfo is None:
            raise ValueError("the deadline needs a UTC offset, e.g. 2024-03-27T17:00:00+07:00")
        return value

    @field_validator("reminders")
    @classmethod
    def _reminders(cls, values: list[str]) -> list[str]:
        for value in values:
            parse_duration(value)
        return values

    def deadline_at(self, launched: dt.datetime) -> dt.datetime:
        """The deadline as an instant in UTC (a round file's +07:00 deadline kept in Vietnam's time would be stored
        by SQLite without its offset, and read back seven hours late)."""
        if isinstance(self.deadline, str):
            return (launched + parse_duration(self.deadline)).astimezone(dt.UTC)
        return self.deadline.astimezone(dt.UTC)


class Round(Strict):
    version: Literal[1]
    cluster: Cluster
    units: Annotated[list[Unit], Field(min_length=2, max_length=200)]
    conference: Conference
    covenant: CovenantText
    documents: Documents = Field(default_factory=Documents)
    signing: Signing
    templates: InsidePath | None = None  # a folder of the round's own DOCX templates, relative to the file
    # how long the archive keeps the signed documents: "permanent" (vĩnh viễn) or a number of years; stated in the
    # package's metadata for the archivists
    retention: Literal["permanent"] | Annotated[int, Field(ge=1, le=100)] | None = None

    def unit(self, unit_id: str) -> Unit:
        for unit in self.units:
            if unit.id == unit_id:
                return unit
        raise KeyError(unit_id)

    @property
    def chair_unit(self) -> Unit:
        return next(u for u in self.units if u.role == "chair")

    @property
    def issues(self) -> bool:
        """Whether the chair unit's clerk issues the documents (Decree 30, Art. 33)."""
        return self.signing.issue and any(u.role == "chair" and u.clerk is not None for u in self.units)

"""The shop's privacy policy: purposes, data categories, legal clocks and staff roles.

The policy is data, not code: core ships ``core/policy/default.toml`` and a shop
replaces it with its own file (``PRIVACY_POLICY_FILE``). The file is edited by a
privacy officer, not a programmer, so loading is strict (unknown keys, typos,
dangling references all stop start-up) and every complaint names the file, the
key and what is wrong.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import NoReturn, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.domain.calendar import Duration, TimeUnit, WorkingCalendar, known_region
from core.domain.categories import DataCategory
from core.domain.deadlines import Deadline, count_deadline, end_of_day
from core.domain.requests import Pause, RequestKind
from core.domain.staff import Role
from core.errors import ConfigurationError, NotFound, PolicyDenied

__all__ = [
    "DEFAULT_POLICY_PATH",
    "BreachRules",
    "CategorySpec",
    "DirectMarketing",
    "JurisdictionSpec",
    "LegalClock",
    "Permission",
    "Policy",
    "PolicyError",
    "PurposeSpec",
    "QuietHours",
    "Recipient",
    "SeparateConsent",
    "load_policy",
]

DEFAULT_POLICY_PATH = Path(__file__).resolve().parent.parent / "policy" / "default.toml"


class Permission(StrEnum):
    """Everything a staff role can be allowed; the policy grants them per role."""

    QUEUE_VIEW = "queue.view"
    REQUEST_VIEW = "request.view"
    REQUEST_APPROVE = "request.approve"
    REQUEST_REJECT = "request.reject"
    REQUEST_EXTEND = "request.extend"
    LOOKUP_MASKED = "lookup.masked"
    LOOKUP_REVEAL = "lookup.reveal"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_TAIL = "audit.tail"
    STATS_VIEW = "stats.view"
    RETENTION_RUN = "retention.run"
    STAFF_MANAGE = "staff.manage"
    INCIDENT_MANAGE = "incident.manage"


_PERMISSIONS = tuple(p.value for p in Permission)


class LegalClock(StrEnum):
    """A regime's legal clocks."""

    RESPOND = "respond"  # answer the request
    EXTEND = "extend"  # the further period, where the law allows one
    CONFIRM = "confirm"  # confirm receipt (CCPA)
    OPT_OUT = "opt-out"  # act on an opt-out of sale/sharing (CCPA)


class PolicyError(ConfigurationError):
    """The policy file cannot be used. ``key`` is a dotted path like ``jurisdictions.gdpr.name``."""

    def __init__(self, path: Path, key: str | None, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = f"{path}: {key}" if key else str(path)
        super().__init__(f"policy file {where}: {problem}")


@dataclass(frozen=True)
class PurposeSpec:
    key: str
    consent_based: bool
    categories: tuple[str, ...]
    marketing: bool
    sharing: bool
    title_key: str
    description_key: str
    separate: SeparateConsent | None = None  # PIPL: asked on its own screen
    recipient: Recipient | None = None  # who receives the data (provision, cross-border)
    necessity_key: str = ""  # sensitive data: why it is needed, how it affects them
    direct_marketing: DirectMarketing | None = None  # PDPO Part 6A, for marketing purposes
    dpv_purpose: str = ""  # the W3C DPV purpose it is, e.g. "DirectMarketing" (consent records)
    # Asked only in this messaging app (WhatsApp's opt-in to the shop's messages there).
    channel: str = ""


class SeparateConsent(StrEnum):
    """Consents PIPL wants given on their own (单独同意), never bundled with others."""

    PROVISION = "provision"  # Art. 23: to another personal information handler
    SENSITIVE = "sensitive"  # Art. 29: sensitive personal information
    CROSS_BORDER = "cross_border"  # Art. 39: outside the mainland

    @property
    def article(self) -> str:
        return {"provision": "23", "sensitive": "29", "cross_border": "39"}[self.value]


@dataclass(frozen=True)
class Recipient:
    """Who receives the data, as PIPL Arts. 23 and 39 ask the customer be told.
    ``name``, ``contact`` and ``country`` are shown as written; the method and the
    way to exercise rights with the recipient are translation keys."""

    name: str
    contact: str
    country: str  # where the recipient is (required for a cross-border transfer)
    method_key: str  # how the recipient processes the data
    rights_key: str  # how to exercise one's rights with the recipient


@dataclass(frozen=True)
class DirectMarketing:
    """What PDPO s.35C asks a shop to tell before it uses data in direct marketing:
    the kinds of personal data to be used and the classes of marketing subjects
    (each a translation key ``marketing.data.<kind>`` / ``marketing.subject.<class>``)."""

    data_kinds: tuple[str, ...]
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class CategorySpec:
    """``legal_hold``: how long records the law requires (invoices) stay, pseudonymised."""

    key: str
    retention: Duration
    fields: tuple[str, ...]
    legal_hold: Duration | None


@dataclass(frozen=True)
class BreachRules:
    """A regime's clocks after a personal-data breach, from when the shop became aware.

    ``authority_hours``: to tell the data protection authority (None: no duty);
    only above ``authority_threshold`` affected residents where one is set.
    ``individuals_hours``: to tell the people affected ("without undue delay", "as
    soon as practicable": the shop's working target); with ``high_risk_only`` only
    when the risk to them is high (GDPR Art. 34).
    """

    authority_hours: int | None
    individuals_hours: int
    authority_threshold: int | None = None
    high_risk_only: bool = False


@dataclass(frozen=True)
class JurisdictionSpec:
    key: str
    name: str
    respond_within: Duration
    extension: Duration | None
    acknowledge_within: Duration | None
    timezone: str
    opt_out_reask_after: Duration | None
    note: str
    opt_out_within: Duration | None = None
    holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    calendar_region: str | None = None  # python-holidays: "CN", "US-CA", "HK", "DE"
    not_holidays: frozenset[date] = frozenset()
    receipt_day_counts: bool = False
    last_day_moves_past: frozenset[str] = frozenset()
    pauses_for_customer: bool = False  # the clock stops while the shop waits for them
    breach: BreachRules | None = None  # telling of a personal-data breach

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(
            self.holidays, self.extra_working_days, self.calendar_region, self.not_holidays
        )

    def deadline(self, received_at: datetime, clock: LegalClock = LegalClock.RESPOND) -> Deadline:
        """One of the regime's clocks, counted from ``received_at``, with its reasons."""
        if clock is LegalClock.EXTEND:
            if self.extension is None:
                raise PolicyDenied(
                    f"{self.name} allows no extension of the response period",
                    code="extension_not_allowed",
                )
            # The further period runs from the end of the first one; that is never
            # later than adding both at once (31 Jan: 28 Feb, then 28 Apr, not 30 Apr).
            first = self.deadline(received_at).due_at
            return self._count(first, self.extension, start_counts=False)
        period = {
            LegalClock.RESPOND: self.respond_within,
            LegalClock.CONFIRM: self.acknowledge_within,
            LegalClock.OPT_OUT: self.opt_out_within,
        }[clock]
        if period is None:
            raise NotFound(f"{self.name} has no {clock.value} clock", code="no_such_clock")
        return self._count(received_at, period, start_counts=self.receipt_day_counts)

    def response_due(self, received_at: datetime) -> datetime:
        return self.deadline(received_at).due_at

    def extended_due(self, received_at: datetime) -> datetime:
        return self.deadline(received_at, LegalClock.EXTEND).due_at

    def acknowledge_due(self, received_at: datetime) -> datetime | None:
        if self.acknowledge_within is None:
            return None
        return self.deadline(received_at, LegalClock.CONFIRM).due_at

    def opt_out_due(self, received_at: datetime) -> datetime | None:
        if self.opt_out_within is None:
            return None
        return self.deadline(received_at, LegalClock.OPT_OUT).due_at

    def paused_days(self, since: datetime, until: datetime) -> int:
        """How far a wait for the customer moves the due date: the days after the
        asking up to the day of the answer (as Regulation 1182/71 counts an event:
        the day of asking still ran), in the response period's unit; 0 where the
        regime's clock keeps running (CCPA: "regardless of time required to verify")."""
        if not self.pauses_for_customer:
            return 0
        first = since.astimezone(self.zone).date() + timedelta(days=1)
        last = until.astimezone(self.zone).date()
        days = (first + timedelta(days=n) for n in range(max(0, (last - first).days + 1)))
        if self.respond_within.unit is TimeUnit.WORKING_DAYS:
            return sum(1 for day in days if self.calendar.is_working_day(day))
        return sum(1 for _ in days)

    def paused_total(self, pauses: Iterable[Pause], now: datetime) -> int:
        """The days the clock stood still over ``pauses`` (a wait still open counts to now)."""
        return sum(self.paused_days(p.since, p.until or now) for p in pauses)

    def shifted(self, due_at: datetime, paused: int) -> datetime:
        """``due_at`` moved on by ``paused`` days of the response period's unit."""
        if paused <= 0:
            return due_at
        working = self.respond_within.unit is TimeUnit.WORKING_DAYS
        unit = TimeUnit.WORKING_DAYS if working else TimeUnit.DAYS
        day = self.calendar.add(due_at.astimezone(self.zone).date(), Duration(paused, unit))
        return end_of_day(day, self.zone)

    def _count(self, received_at: datetime, d: Duration, *, start_counts: bool) -> Deadline:
        return count_deadline(
            received_at,
            d,
            self.zone,
            self.calendar,
            start_counts=start_counts,
            moves_past=self.last_day_moves_past,
        )


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock window in which the bot sends nothing unprompted."""

    start: time
    end: time

    def contains(self, at: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= at < self.end
        # The usual case: the window wraps past midnight (21:00-09:00).
        return at >= self.start or at < self.end


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


_K = TypeVar("_K", bound=_Keyed)


def _find(items: Iterable[_K], key: str, what: str) -> _K:
    for item in items:
        if item.key == key:
            return item
    # Keys can come from button callback data, which a client can forge; keep it short.
    raise NotFound(f"no {what} {key[:40]!r} in the policy", code=f"unknown_{what}")


_KEY_BACKUP_RETENTION = Duration(35, TimeUnit.DAYS)
_REQUEST_RECORD_RETENTION = Duration(24, TimeUnit.MONTHS)


# The kinds of message a shop sends unprompted (a template is needed for each on
# WhatsApp outside the 24-hour window), and WhatsApp's template language codes.
UNPROMPTED_KINDS = ("notice", "incident", "export", "agent", "followup")
_TEMPLATE_LANGUAGES = {"en": "en", "zh_Hans": "zh_CN", "zh_Hant": "zh_HK"}


@dataclass(frozen=True)
class WhatsAppRules:
    """WhatsApp's Business rules as the shop applies them: outside the customer-service
    window only pre-approved templates go, one per message kind and language."""

    templates: Mapping[str, str] = field(default_factory=dict)  # kind -> template name
    languages: Mapping[str, str] = field(default_factory=lambda: dict(_TEMPLATE_LANGUAGES))
    per_second: int = 20  # the business number's throughput (messages a second)

    def template(self, kind: str, locale: str) -> tuple[str, str] | None:
        """(template name, its language code) for an unprompted ``kind``, or None."""
        name = self.templates.get(kind)
        return None if name is None else (name, self.languages.get(locale, "en"))


@dataclass(frozen=True)
class Policy:
    version: str
    notice_version: str
    default_jurisdiction: str
    purposes: tuple[PurposeSpec, ...]
    categories: tuple[CategorySpec, ...]
    jurisdictions: tuple[JurisdictionSpec, ...]
    roles: dict[str, frozenset[str]]
    approval_required: frozenset[str]
    quiet_hours: QuietHours
    default_timezone: str
    followup_min_interval: Duration
    inactive_after: Duration
    conversation_state_ttl: Duration
    default_phone_region: str
    export_rate_limit: int
    followup_purpose: str = "follow_up"
    # How long a key-store backup may be kept: it holds the keys of customers erased
    # after it was made, so this bounds how long they stay readable in backups.
    key_backup_retention: Duration = _KEY_BACKUP_RETENTION
    # How long a closed request's record is kept as proof (CCPA regs §7101: 24 months).
    request_record_retention: Duration = _REQUEST_RECORD_RETENTION
    # Kinds that need two different staff members to approve them (four eyes).
    second_approval_required: frozenset[str] = frozenset({"erasure"})
    privacy_officer: str = ""  # how customers reach the privacy officer (breach notices)
    privacy_policy_url: str = ""  # the shop's full privacy policy (/privacy links it)
    controller: str = ""  # the shop's name as the data controller (consent records)
    whatsapp: WhatsAppRules = field(default_factory=WhatsAppRules)
    source: Path | None = field(default=None, compare=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.default_timezone)

    @property
    def calendar(self) -> WorkingCalendar:
        """The shop's working days: its default jurisdiction's holidays and make-up days."""
        return self.jurisdiction().calendar

    def purpose(self, key: str) -> PurposeSpec:
        return _find(self.purposes, key, "purpose")

    def consent_purposes(self, channel: str | None = None) -> tuple[PurposeSpec, ...]:
        """Every consent purpose; with ``channel``, those a customer there is asked
        (a purpose bound to another app, like WhatsApp's opt-in, is left out)."""
        return tuple(
            p
            for p in self.purposes
            if p.consent_based and (channel is None or p.channel in ("", channel))
        )

    def jurisdiction(self, key: str | None = None) -> JurisdictionSpec:
        """``None`` (a customer with no known regime) means the default jurisdiction."""
        return _find(self.jurisdictions, key or self.default_jurisdiction, "jurisdiction")

    def category(self, key: str) -> CategorySpec:
        return _find(self.categories, key, "category")

    def category_of(self, field_name: str) -> CategorySpec:
        for category in self.categories:
            if field_name in category.fields:
                return category
        raise NotFound(f"no category lists the field {field_name!r}", code="unknown_field")

    def allows(self, role: str, permission: str) -> bool:
        # A misspelt permission in code would silently deny; fail loudly instead.
        if permission not in _PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        return permission in self.roles.get(role, frozenset())

    def needs_approval(self, kind: str) -> bool:
        return kind in self.approval_required

    def needs_second_approval(self, kind: str) -> bool:
        return kind in self.second_approval_required


def load_policy(path: Path | None = None) -> Policy:
    """Load and check a policy file; ``None`` loads the default shipped with core."""
    source = DEFAULT_POLICY_PATH if path is None else Path(path)
    return _build_policy(_Table(source, "", _read_toml(source)))


# --- reading the file ------------------------------------------------------------

_POSITION_RE = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)")
_HEADER_RE = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_PART = r"""(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')"""
_KEY_LINE_RE = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)(?:\s*=|\s|$)")


def _read_toml(path: Path) -> dict[str, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(path, None, f"cannot read the file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(path, None, f"the file is not UTF-8 text ({exc.reason})") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(path, text, exc) from exc


def _syntax_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> PolicyError:
    message = str(exc)
    found = _POSITION_RE.search(message)
    reason = _POSITION_RE.sub("", message)
    lines = text.split("\n")
    if found is None or found.group(1) is None:
        return PolicyError(path, None, f"invalid TOML at the end of the file: {reason}")
    line_no, column = int(found.group(1)), int(found.group(2))
    line = lines[line_no - 1].strip() if line_no <= len(lines) else ""
    return PolicyError(
        path,
        _key_near(lines, line_no),
        f"invalid TOML at line {line_no}, column {column}: {reason} (the line reads {line!r})",
    )


def _key_near(lines: list[str], line_no: int) -> str | None:
    """Best guess at the dotted key on a line, so a duplicate key is named, not just placed."""
    table = ""
    for line in lines[: line_no - 1]:
        header = _HEADER_RE.match(line)
        if header:
            table = _dotted(header.group(1))
    here = lines[line_no - 1] if line_no <= len(lines) else ""
    header = _HEADER_RE.match(here)
    if header:
        return _dotted(header.group(1))
    key = _KEY_LINE_RE.match(here)
    if key is None or not key.group(1).strip():
        return table or None
    return ".".join(p for p in (table, _dotted(key.group(1))) if p)


def _dotted(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CLOCK_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_REGION_RE = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class _Table:
    """One TOML table plus where it sits, so every complaint carries its key path."""

    source: Path
    where: str
    data: Mapping[str, object]

    def path_of(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, name: str, problem: str) -> NoReturn:
        raise PolicyError(self.source, self.path_of(name), problem)

    def only(self, allowed: Iterable[str], what: str = "key") -> None:
        known = tuple(allowed)
        for name in self.data:
            if name not in known:
                self.fail(name, f"unknown {what}{_hint(name, known)}")

    def get(self, name: str) -> object:
        if name not in self.data:
            self.fail(name, "required key is missing")
        return self.data[name]

    def string(self, name: str, default: str | None = None) -> str:
        value = default if default is not None and name not in self.data else self.get(name)
        if not isinstance(value, str) or not value.strip():
            self.fail(name, f"expected a non-empty text in quotes, got {_show(value)}")
        return value.strip()

    def boolean(self, name: str, default: bool | None = None) -> bool:
        value = default if default is not None and name not in self.data else self.get(name)
        if not isinstance(value, bool):
            self.fail(name, f"expected true or false, got {_show(value)}")
        return value

    def optional_text(self, name: str) -> str:
        return self.string(name) if name in self.data else ""

    def positive_int(self, name: str) -> int:
        value = self.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(name, f"expected a whole number of at least 1, got {_show(value)}")
        return value

    def duration(self, name: str) -> Duration:
        value = self.get(name)
        try:
            parsed = Duration.parse(value) if isinstance(value, str) else None
        except ValueError as exc:
            self.fail(name, str(exc))
        if parsed is None:
            self.fail(name, f"expected a duration in quotes like '1 month', got {_show(value)}")
        if parsed.amount == 0:
            self.fail(name, f"expected a duration longer than zero, got {value!r}")
        return parsed

    def optional_duration(self, name: str) -> Duration | None:
        return self.duration(name) if name in self.data else None

    def strings(self, name: str, *, allow_empty: bool = False) -> tuple[str, ...]:
        value = self.get(name)
        if not isinstance(value, list) or (not value and not allow_empty):
            self.fail(name, f'expected a list of texts like ["a", "b"], got {_show(value)}')
        seen: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.fail(f"{name}[{i}]", f"expected a non-empty text, got {_show(item)}")
            if item.strip() in seen:
                self.fail(f"{name}[{i}]", f"duplicate entry {item!r}")
            seen.append(item.strip())
        return tuple(seen)

    def dates(self, name: str) -> frozenset[date]:
        value = self.data.get(name, [])
        if not isinstance(value, list):
            self.fail(name, f"expected a list of dates like [2026-10-01], got {_show(value)}")
        return frozenset(self._date(f"{name}[{i}]", item) for i, item in enumerate(value))

    def _date(self, name: str, item: object) -> date:
        if isinstance(item, str):
            # A quoted date is an easy slip; accept it rather than make the officer learn TOML.
            with contextlib.suppress(ValueError):
                item = date.fromisoformat(item)
        if isinstance(item, datetime) or not isinstance(item, date):
            self.fail(name, f"expected a date like 2026-10-01, got {_show(item)}")
        return item

    def table(self, name: str) -> _Table:
        value = self.get(name)
        if not isinstance(value, dict):
            self.fail(name, f"expected a table ([{self.path_of(name)}]), got {_show(value)}")
        return _Table(self.source, self.path_of(name), value)

    def named_tables(self, name: str) -> list[tuple[str, _Table]]:
        """Sub-tables whose names are keys the shop chose (purposes, jurisdictions)."""
        parent = self.table(name)
        if not parent.data:
            self.fail(name, "expected at least one entry")
        for key in parent.data:
            if not _NAME_RE.match(key):
                # Keys travel in 64-byte button callback data and translation keys.
                parent.fail(key, "names must be 1-32 lowercase letters, digits or '_'")
        return [(key, parent.table(key)) for key in parent.data]


def _hint(name: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (expected one of: {', '.join(known)})"


def _choice(table: _Table, name: str, known: tuple[str, ...], what: str) -> str:
    value = table.string(name)
    if value not in known:
        table.fail(name, f"{value!r} is not a defined {what}{_hint(value, known)}")
    return value


def _zone_name(table: _Table, name: str) -> str:
    value = table.string(name)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, e.g. "America"
        table.fail(name, f"unknown time zone {value!r}; expected a name like 'Asia/Hong_Kong'")
    return value


def _clock(table: _Table, name: str) -> time:
    value = table.string(name)
    if not _CLOCK_RE.match(value):
        table.fail(name, f"expected a 24-hour time like '21:00', got {value!r}")
    return time.fromisoformat(value)


# --- building the policy ---------------------------------------------------------

_ROOT_KEYS = (
    "version",
    "notice_version",
    "default_jurisdiction",
    "default_timezone",
    "default_phone_region",
    "followup_purpose",
    "followup_min_interval",
    "inactive_after",
    "conversation_state_ttl",
    "key_backup_retention",
    "request_record_retention",
    "export_rate_limit",
    "approval_required",
    "second_approval_required",
    "privacy_officer",
    "privacy_policy_url",
    "controller",
    "whatsapp",
    "quiet_hours",
    "roles",
    "purposes",
    "categories",
    "jurisdictions",
)


def _build_policy(root: _Table) -> Policy:
    root.only(_ROOT_KEYS)
    categories = _categories(root.table("categories"))
    purposes = _purposes(root, tuple(c.key for c in categories))
    jurisdictions = _jurisdictions(root)
    return Policy(
        version=root.string("version"),
        notice_version=root.string("notice_version"),
        default_jurisdiction=_choice(
            root, "default_jurisdiction", tuple(j.key for j in jurisdictions), "jurisdiction"
        ),
        purposes=purposes,
        categories=categories,
        jurisdictions=jurisdictions,
        roles=_roles(root.table("roles")),
        approval_required=_approval_required(root),
        second_approval_required=_second_approval_required(root),
        quiet_hours=_quiet_hours(root.table("quiet_hours")),
        default_timezone=_zone_name(root, "default_timezone"),
        followup_min_interval=root.duration("followup_min_interval"),
        inactive_after=root.duration("inactive_after"),
        conversation_state_ttl=root.duration("conversation_state_ttl"),
        default_phone_region=_phone_region(root),
        export_rate_limit=root.positive_int("export_rate_limit"),
        followup_purpose=_followup_purpose(root, purposes),
        key_backup_retention=_key_backup_retention(root),
        request_record_retention=root.optional_duration("request_record_retention")
        or _REQUEST_RECORD_RETENTION,
        privacy_officer=root.optional_text("privacy_officer"),
        privacy_policy_url=root.optional_text("privacy_policy_url"),
        controller=root.optional_text("controller"),
        whatsapp=_whatsapp(root),
        source=root.source,
    )


def _whatsapp(root: _Table) -> WhatsAppRules:
    if "whatsapp" not in root.data:
        return WhatsAppRules()
    table = root.table("whatsapp")
    table.only(("templates", "languages", "per_second"))
    templates = _text_map(table, "templates", UNPROMPTED_KINDS, "message kind")
    languages = _text_map(table, "languages", tuple(_TEMPLATE_LANGUAGES), "language")
    per_second = table.positive_int("per_second") if "per_second" in table.data else 20
    return WhatsAppRules(templates, {**_TEMPLATE_LANGUAGES, **languages}, per_second)


def _text_map(table: _Table, name: str, keys: tuple[str, ...], what: str) -> dict[str, str]:
    if name not in table.data:
        return {}
    found = table.table(name)
    found.only(keys, what=what)
    return {key: found.string(key) for key in found.data}


def _key_backup_retention(root: _Table) -> Duration:
    value = root.optional_duration("key_backup_retention")
    return _KEY_BACKUP_RETENTION if value is None else value


def _categories(table: _Table) -> tuple[CategorySpec, ...]:
    # Core stores exactly these kinds of data, so the policy must cover each one.
    table.only((c.value for c in DataCategory), what="category")
    specs = tuple(_category(c.value, table.table(c.value)) for c in DataCategory)
    owner: dict[str, str] = {}
    for spec in specs:
        for i, name in enumerate(spec.fields):
            if name in owner:
                table.fail(
                    f"{spec.key}.fields[{i}]",
                    f"field {name!r} is already in category {owner[name]!r}; "
                    "a field belongs to exactly one category",
                )
            owner[name] = spec.key
    return specs


def _category(key: str, table: _Table) -> CategorySpec:
    table.only(("retention", "fields", "legal_hold"))
    return CategorySpec(
        key=key,
        retention=table.duration("retention"),
        fields=table.strings("fields"),
        legal_hold=table.optional_duration("legal_hold"),
    )


_PURPOSE_KEYS = (
    "consent_based",
    "categories",
    "marketing",
    "sharing",
    "title_key",
    "description_key",
    "separate_consent",
    "recipient",
    "necessity_key",
    "personal_data",
    "marketing_subjects",
    "dpv_purpose",
    "channel",
)
_CHANNELS = ("whatsapp",)  # apps a purpose may be bound to


def _purposes(root: _Table, categories: tuple[str, ...]) -> tuple[PurposeSpec, ...]:
    return tuple(_purpose(key, t, categories) for key, t in root.named_tables("purposes"))


def _purpose(key: str, table: _Table, categories: tuple[str, ...]) -> PurposeSpec:
    table.only(_PURPOSE_KEYS)
    used = table.strings("categories")
    for i, name in enumerate(used):
        if name not in categories:
            table.fail(f"categories[{i}]", f"unknown category {name!r}{_hint(name, categories)}")
    spec = PurposeSpec(
        key=key,
        consent_based=table.boolean("consent_based"),
        categories=used,
        marketing=table.boolean("marketing", default=False),
        sharing=table.boolean("sharing", default=False),
        title_key=table.string("title_key", default=f"purpose.{key}.title"),
        description_key=table.string("description_key", default=f"purpose.{key}.description"),
        separate=_separate(table),
        recipient=_recipient(key, table),
        necessity_key=table.string("necessity_key", default=f"purpose.{key}.necessity"),
        direct_marketing=_direct_marketing(table),
        dpv_purpose=_dpv_purpose(table),
        channel=_choice(table, "channel", _CHANNELS, "channel") if "channel" in table.data else "",
    )
    _check_consent_rules(spec, table)
    _check_separate(spec, table)
    return spec


_DPV_TERM = re.compile(r"^[A-Z][A-Za-z0-9]{2,80}$")


def _dpv_purpose(table: _Table) -> str:
    """A DPV purpose term without its prefix ("DirectMarketing"); "" when not mapped."""
    if "dpv_purpose" not in table.data:
        return ""
    term = table.string("dpv_purpose").removeprefix("dpv:")
    if not _DPV_TERM.match(term):
        table.fail("dpv_purpose", f"expected a DPV purpose term like DirectMarketing, got {term!r}")
    return term


def _separate(table: _Table) -> SeparateConsent | None:
    if "separate_consent" not in table.data:
        return None
    kind = table.string("separate_consent")
    kinds = [k.value for k in SeparateConsent]
    if kind not in kinds:
        table.fail("separate_consent", f"expected one of {', '.join(kinds)}, got {kind!r}")
    return SeparateConsent(kind)


_RECIPIENT_KEYS = ("name", "contact", "country", "method_key", "rights_key")


def _recipient(key: str, table: _Table) -> Recipient | None:
    if "recipient" not in table.data:
        return None
    sub = table.table("recipient")
    sub.only(_RECIPIENT_KEYS)
    return Recipient(
        name=sub.string("name"),
        contact=sub.string("contact"),
        country=sub.optional_text("country"),
        method_key=sub.string("method_key", default=f"purpose.{key}.recipient_method"),
        rights_key=sub.string("rights_key", default=f"purpose.{key}.recipient_rights"),
    )


def _direct_marketing(table: _Table) -> DirectMarketing | None:
    if not table.boolean("marketing", default=False):
        for name in ("personal_data", "marketing_subjects"):
            if name in table.data:
                table.fail(name, "only a purpose with marketing = true names this")
        return None
    found = {}
    for name in ("personal_data", "marketing_subjects"):
        if name not in table.data:
            table.fail(
                name,
                "a direct-marketing purpose must name the kinds of personal data it uses "
                "and the classes of marketing subjects (PDPO s.35C), e.g. "
                'personal_data = ["name", "contact_details"], '
                'marketing_subjects = ["shop_products"]',
            )
        found[name] = table.strings(name)
        for i, word in enumerate(found[name]):
            if not _NAME_RE.match(word):
                table.fail(f"{name}[{i}]", "names must be 1-32 lowercase letters, digits or '_'")
    return DirectMarketing(found["personal_data"], found["marketing_subjects"])


def _check_separate(spec: PurposeSpec, table: _Table) -> None:
    if spec.separate is None:
        if spec.recipient is not None:
            table.fail(
                "recipient", "a recipient goes with separate_consent (provision or cross_border)"
            )
        return
    if not spec.consent_based:
        table.fail("separate_consent", "a separate consent needs consent_based = true")
    needs_recipient = spec.separate in (SeparateConsent.PROVISION, SeparateConsent.CROSS_BORDER)
    if needs_recipient and spec.recipient is None:
        table.fail(
            "recipient",
            f"separate_consent = {spec.separate.value!r} must name the recipient: "
            "[purposes.<name>.recipient] with name and contact (PIPL Arts. 23, 39)",
        )
    if spec.separate is SeparateConsent.CROSS_BORDER and not (
        spec.recipient and spec.recipient.country
    ):
        table.fail(
            "recipient", "a cross-border transfer must say where: recipient.country (PIPL Art. 39)"
        )


def _check_consent_rules(spec: PurposeSpec, table: _Table) -> None:
    if spec.consent_based:
        return
    if spec.marketing:
        table.fail(
            "consent_based",
            "marketing = true needs consent_based = true: direct marketing needs the "
            "customer's consent (PDPO Part 6A, GDPR Art. 6)",
        )
    if spec.sharing:
        table.fail(
            "consent_based",
            "sharing = true needs consent_based = true: sharing with third parties needs "
            "separate consent (PIPL Art. 23)",
        )


_JURISDICTION_KEYS = (
    "name",
    "respond_within",
    "extension",
    "acknowledge_within",
    "opt_out_within",
    "opt_out_reask_after",
    "timezone",
    "holidays",
    "extra_working_days",
    "calendar",
    "not_holidays",
    "receipt_day_counts",
    "last_day_moves_past",
    "clock_pauses_for_customer",
    "breach",
    "note",
)


def _jurisdictions(root: _Table) -> tuple[JurisdictionSpec, ...]:
    return tuple(_jurisdiction(key, t) for key, t in root.named_tables("jurisdictions"))


def _jurisdiction(key: str, table: _Table) -> JurisdictionSpec:
    table.only(_JURISDICTION_KEYS)
    return JurisdictionSpec(
        key=key,
        name=table.string("name"),
        respond_within=table.duration("respond_within"),
        extension=table.optional_duration("extension"),
        acknowledge_within=table.optional_duration("acknowledge_within"),
        timezone=_zone_name(table, "timezone"),
        opt_out_reask_after=table.optional_duration("opt_out_reask_after"),
        note=table.optional_text("note"),
        opt_out_within=table.optional_duration("opt_out_within"),
        holidays=table.dates("holidays"),
        extra_working_days=_extra_working_days(table),
        calendar_region=_region(table),
        not_holidays=table.dates("not_holidays"),
        receipt_day_counts=table.boolean("receipt_day_counts", default=False),
        last_day_moves_past=_moves_past(table),
        pauses_for_customer=table.boolean("clock_pauses_for_customer", default=False),
        breach=_breach(table),
    )


_BREACH_KEYS = ("authority_hours", "individuals_hours", "authority_threshold", "high_risk_only")


def _breach(table: _Table) -> BreachRules | None:
    if "breach" not in table.data:
        return None
    sub = table.table("breach")
    sub.only(_BREACH_KEYS)
    return BreachRules(
        authority_hours=sub.positive_int("authority_hours")
        if "authority_hours" in sub.data
        else None,
        individuals_hours=sub.positive_int("individuals_hours"),
        authority_threshold=(
            sub.positive_int("authority_threshold") if "authority_threshold" in sub.data else None
        ),
        high_risk_only=sub.boolean("high_risk_only", default=False),
    )


def _region(table: _Table) -> str | None:
    if "calendar" not in table.data:
        return None
    region = table.string("calendar").upper()
    if not known_region(region):
        table.fail(
            "calendar",
            f"no official calendar {region!r}; expected a country code like 'CN' or 'HK', "
            "or a country and region like 'US-CA' (python-holidays)",
        )
    return region


_MOVES_PAST = ("saturday", "sunday", "holiday")


def _moves_past(table: _Table) -> frozenset[str]:
    if "last_day_moves_past" not in table.data:
        return frozenset()
    found = table.strings("last_day_moves_past", allow_empty=True)
    for i, word in enumerate(found):
        if word not in _MOVES_PAST:
            table.fail(
                f"last_day_moves_past[{i}]",
                f"expected one of {', '.join(_MOVES_PAST)}, got {word!r}",
            )
    return frozenset(found)


def _extra_working_days(table: _Table) -> frozenset[date]:
    days = table.dates("extra_working_days")
    for day in sorted(days):
        if day.weekday() < 5:
            table.fail(
                "extra_working_days",
                f"{day.isoformat()} is a weekday; list only weekend days worked "
                "in exchange for a holiday",
            )
    return days


def _roles(table: _Table) -> dict[str, frozenset[str]]:
    # Staff records carry one of core's roles, so each must be granted explicitly.
    table.only((r.value for r in Role), what="role")
    return {role.value: _permissions(table, role.value) for role in Role}


def _permissions(table: _Table, role: str) -> frozenset[str]:
    known = tuple(_PERMISSIONS)
    granted = table.strings(role, allow_empty=True)
    for i, name in enumerate(granted):
        if name not in known:
            table.fail(f"{role}[{i}]", f"unknown permission {name!r}{_hint(name, known)}")
    return frozenset(granted)


def _approval_required(root: _Table) -> frozenset[str]:
    return _request_kinds(root, "approval_required")


def _second_approval_required(root: _Table) -> frozenset[str]:
    needing = _request_kinds(root, "approval_required")
    if "second_approval_required" not in root.data:
        return frozenset({RequestKind.ERASURE.value}) & needing
    kinds = _request_kinds(root, "second_approval_required")
    for i, name in enumerate(root.strings("second_approval_required", allow_empty=True)):
        if name not in needing:
            root.fail(
                f"second_approval_required[{i}]",
                f"{name!r} needs no approval at all (add it to approval_required first)",
            )
    return kinds


def _request_kinds(root: _Table, key: str) -> frozenset[str]:
    known = tuple(kind.value for kind in RequestKind)
    kinds = root.strings(key, allow_empty=True)
    for i, name in enumerate(kinds):
        if name not in known:
            root.fail(f"{key}[{i}]", f"unknown request kind {name!r}{_hint(name, known)}")
    return frozenset(kinds)


def _quiet_hours(table: _Table) -> QuietHours:
    table.only(("start", "end"))
    return QuietHours(start=_clock(table, "start"), end=_clock(table, "end"))


def _phone_region(root: _Table) -> str:
    value = root.string("default_phone_region").upper()
    if not _REGION_RE.match(value):
        root.fail("default_phone_region", f"expected a two-letter region like 'HK', got {value!r}")
    return value


def _followup_purpose(root: _Table, purposes: tuple[PurposeSpec, ...]) -> str:
    known = tuple(p.key for p in purposes)
    key = root.string("followup_purpose", default="follow_up")
    if key not in known:
        root.fail("followup_purpose", f"{key!r} is not a defined purpose{_hint(key, known)}")
    if not _find(purposes, key, "purpose").consent_based:
        root.fail(
            "followup_purpose",
            f"purpose {key!r} is not consent based; follow-ups need the buyer's consent",
        )
    return key

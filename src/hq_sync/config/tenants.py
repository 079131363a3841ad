"""Tenants as files (product.md D1): one YAML file per tenant under ``include/tenants/``.

A tenant file holds no secrets: credentials live in the Airflow connections it names (by default
``hq_<tenant>``, ``awork_<tenant>`` and ``personio_<tenant>``, with ``-`` in the tenant id written
as ``_``). ``load_tenants()`` validates every file on its own, so a broken file yields a
``TenantFileError`` naming the file, the field and the reason, and leaves the other tenants alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hq_sync import kinds
from hq_sync.mappings import MappingError, build_mapping
from hq_sync.paths import tenants_dir

TENANT_ID_PATTERN = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"
# The kinds and sources live in the registry (hq_sync.kinds); these names stay importable from here.
SOURCES = kinds.SOURCES
DAG_ID_PREFIX = kinds.DAG_ID_PREFIX
BACKFILL_KINDS = kinds.BACKFILL_KINDS


def _default_schedule(kind: str) -> str:
    """A kind's default cron (``hq_sync.kinds``)."""
    schedule = kinds.KINDS[kind].default_schedule
    assert schedule is not None, f"{kind} has no default schedule"
    return schedule


def _check_cron(value: str) -> str:
    if not _cron_valid(value):
        raise ValueError(f"{value!r} is not a valid cron expression (5 fields, e.g. '0 */3 * * *')")
    return value


@functools.lru_cache(maxsize=512)
def _cron_valid(value: str) -> bool:
    """Whether ``value`` is a cron expression (cached: hundreds of tenants share a few schedules,
    and croniter's parse is a large part of a DAG file's parse cost, issue #11)."""
    return bool(croniter.is_valid(value))


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'Europe/Berlin')") from exc
    return value


Cron = Annotated[str, AfterValidator(_check_cron)]
TimeZone = Annotated[str, AfterValidator(_check_timezone)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhaseMode(StrEnum):
    """Where awork tasks go in HQ (product.md A5/A6)."""

    AWORK_TIMES = "awork_times"  # every task under the phase "awork - Zeiten"
    BY_LIST = "by_list"  # under a phase named after the task's awork list


WEBHOOK_POLLING_MAX_GAP = timedelta(hours=24)  # the daily full reconciliation rides on polling runs


def _check_daily(value: str | None) -> str | None:
    """A polling schedule that still fires at least once every 24 hours (or None)."""
    if value is None:
        return value
    _check_cron(value)
    gap = _longer_gap_than_a_day(value)
    if gap is not None:
        raise ValueError(
            f"{value!r} leaves {gap} between two runs; with webhooks the polling runs are the safety "
            "net and carry the daily full reconciliation, so they must run at least once a day"
        )
    return value


@functools.lru_cache(maxsize=512)
def _longer_gap_than_a_day(value: str) -> timedelta | None:
    """A gap of more than 24 h between two fires of the (valid) cron ``value``, or None. Cached
    like ``_cron_valid``."""
    # Walk from fire to fire, each time jumping to the last fire within 24 h (a few steps per day
    # whatever the frequency); 15 days cover every weekly pattern.
    fire = datetime(2026, 1, 5)  # a Monday; from here on every 24 h must hold a fire
    while fire < datetime(2026, 1, 20):
        latest = croniter(value, fire + WEBHOOK_POLLING_MAX_GAP + timedelta(seconds=1)).get_prev(datetime)
        if latest <= fire:
            gap: timedelta = croniter(value, fire).get_next(datetime) - fire
            return gap
        fire = latest
    return None


class Webhooks(_Strict):
    """Near-real-time (product.md E1, docs/webhooks.md): vendor webhooks start the tenant's run.

    ``enabled``: the source's DAG is scheduled on its cron **or** the tenant's webhook asset, so a
    change starts a run at once. ``polling_schedule``: the cron of the polling runs while webhooks
    are on (the safety net: they read what an event missed, and carry the daily full
    reconciliation); default: the source's ``schedule``. It must fire at least once a day.
    """

    enabled: bool = False
    polling_schedule: Annotated[str | None, AfterValidator(_check_daily)] = None


class SourceBase(_Strict):
    enabled: bool = True
    sync_start_date: date = Field(description="Nothing before this date is read or touched.")
    schedule: Cron
    webhooks: Webhooks = Field(default_factory=Webhooks)
    # Incremental reads ask for changes since the source's own clock at the previous read minus
    # this much (late commits, skew between the vendor's servers); docs/personio.md, docs/awork.md.
    cursor_overlap_seconds: Annotated[int, Field(ge=1, le=86400)] = 900

    @property
    def effective_schedule(self) -> str:
        """The cron the DAG runs on: the relaxed polling schedule while webhooks are on, else ``schedule``."""
        if self.webhooks.enabled and self.webhooks.polling_schedule:
            return self.webhooks.polling_schedule
        return self.schedule


class PersonioSource(SourceBase):
    schedule: Cron = _default_schedule("personio")  # product.md B2: every three hours
    # Per HQ absence type (German label or API enum), a comma-separated list of Personio type
    # names; replaces that HQ type's default list (include/mappings/personio_to_hq_default.yaml).
    absence_type_mapping: dict[str, str] = Field(default_factory=dict)
    # How Personio's day-unit ends_at is read (docs/personio.md) until the sync has learnt it from
    # Personio's breakdowns: the exclusive midnight after the last day (observed live by a peer; the
    # default) or the inclusive last day. A tenant file that disagrees with Personio is reported.
    day_end: Literal["exclusive", "inclusive"] = "exclusive"
    # Open-ended absences (no end in Personio) are written up to the end of the month this many
    # months after the current one, and extended as time passes.
    open_ended_months: Annotated[int, Field(ge=0, le=24)] = 1
    # Edits and deletions of absences overlapping [today - past, today + future] reach HQ in the
    # next run; older ones (back to the sync start date) within a day (full reconcile).
    recent_window_past_days: Annotated[int, Field(ge=1, le=3650)] = 62
    recent_window_future_days: Annotated[int, Field(ge=1, le=3650)] = 365

    @field_validator("absence_type_mapping")
    @classmethod
    def _mapping_applies(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            build_mapping(value)
        except MappingError as exc:
            raise ValueError(str(exc)) from exc
        return value


class AworkSource(SourceBase):
    schedule: Cron = _default_schedule("awork")  # hourly
    phase_mode: PhaseMode = PhaseMode.AWORK_TIMES
    # Deletions (awork has no feed): time entries dated within [today - days, today + 31] are
    # re-read every run and the missing ones confirmed by a 404 (docs/awork.md).
    recent_window_days: Annotated[int, Field(ge=1, le=3650)] = 62
    # The phase that holds tasks without a list (and every task in phase_mode awork_times).
    default_phase_name: Annotated[str, Field(min_length=1, max_length=200)] = "awork - Zeiten"
    # The HQ project custom field (type Link) that links a project to awork (A2/A3).
    link_field: Annotated[str, Field(min_length=1, max_length=200)] = "awork Link"


class HqToAworkSource(_Strict):
    """HQ → awork (A2–A4): projects every 15 minutes, offers on demand. Uses the awork connection."""

    enabled: bool = True
    schedule: Cron = _default_schedule("hq_to_awork")
    prefix_project_number: bool = False  # awork project name = "<HQ number> <HQ name>"
    # The awork web address written into HQ's "awork Link", e.g. https://acme.awork.com; without
    # it the bare awork project id is written (both forms are understood when reading links).
    workspace_url: Annotated[str, Field(pattern=r"^https://[^/\s]+$")] | None = None
    link_field: str = "awork Link"
    # awork tasks need a type of work; offer positions carry none in HQ's v1 API. Default: the
    # workspace's first type of work by name (the run says which).
    offer_type_of_work: str | None = None


class DurationFormat(StrEnum):
    """How a timesheet's duration cells are written (docs/timesheets.md)."""

    AUTO = "auto"  # "1:30" is h:mm, anything else decimal hours
    HOURS = "hours"  # decimal hours: 1,5 or 1.5
    H_MM = "h:mm"  # hours and minutes: 1:30 (also 1:30:00)
    MINUTES = "minutes"  # whole or decimal minutes: 90


def _header_list(default: list[str]) -> Any:
    return Field(default_factory=lambda: list(default))


class TimesheetColumns(_Strict):
    """Per field, the header names that mean it (the first one found in the file is used; case,
    surrounding spaces and a trailing ':' are ignored). Defaults: timeBro's export as far as we
    know it, plus common German and English names; docs/timesheets.md marks which are guessed."""

    project: list[str] = _header_list(["Projekt", "Project", "Projektname"])
    project_number: list[str] = _header_list(["Projektnummer", "Projekt-Nr.", "Projektnr.", "Project number"])
    date: list[str] = _header_list(["Datum", "Date", "Tag"])
    duration: list[str] = _header_list(["Dauer", "Duration", "Stunden", "Hours", "Zeit"])
    comment: list[str] = _header_list(["Kommentar", "Beschreibung", "Bemerkung", "Notiz", "Comment", "Description"])
    email: list[str] = _header_list(["E-Mail", "Email", "E-Mail-Adresse", "Mitarbeiter E-Mail"])
    person: list[str] = _header_list(["Mitarbeiter", "Mitarbeiter:in", "Person", "Benutzer", "Name", "User"])
    task: list[str] = _header_list(["Aufgabe", "Task", "Tätigkeit"])
    start: list[str] = _header_list(["Start", "Beginn", "Von", "Startzeit"])


class TimesheetsSource(_Strict):
    """Excel/CSV timesheets (timeBro's export, agencies' own tools) → HQ reportings (product.md C1).

    Files dropped into ``folder`` (or uploaded on the Sync status page) start one import run each.
    """

    enabled: bool = True
    # Where files are dropped: absolute, or relative to the data directory ($HQ_SYNC_DATA_DIR);
    # default <data dir>/timesheets/<tenant id>. Must be reachable by the triggerer and the workers.
    folder: str | None = None
    columns: TimesheetColumns = Field(default_factory=TimesheetColumns)
    # strptime formats tried in order for date cells written as text (Excel dates need none).
    date_formats: list[Annotated[str, Field(min_length=2)]] = Field(
        default_factory=lambda: ["%d.%m.%Y", "%Y-%m-%d", "%d.%m.%y", "%d/%m/%Y"], min_length=1
    )
    duration_format: DurationFormat = DurationFormat.AUTO
    # "auto": a comma is the decimal separator when the text has no dot (German "1,5"); ","/".":
    # that one is the decimal separator and the other a thousands separator.
    decimal_separator: Literal["auto", ",", "."] = "auto"
    # The task used when a row names none, or one its project does not have ("Phase/Task" or a
    # name unique in the project). None: such rows are booked on the project without a task.
    default_task: Annotated[str, Field(min_length=1, max_length=400)] | None = None
    sheet: str | Annotated[int, Field(ge=0)] | None = None  # Excel sheet name or 0-based index; default the first
    encoding: str | None = None  # CSV; default UTF-8 (with or without BOM), else Windows-1252
    max_file_mb: Annotated[float, Field(gt=0, le=200)] = 10.0  # larger files are refused unread
    poke_interval_s: Annotated[float, Field(ge=1, le=3600)] = 10.0  # how often the folder is looked at


class AuditSettings(_Strict):
    """The daily drift audit of source vs HQ (product.md F2, docs/audit.md)."""

    enabled: bool = True
    schedule: Cron = _default_schedule("audit")
    # How many whole months back (plus the current one and what lies ahead) the daily audit
    # compares; None: everything since the sources' sync start dates.
    lookback_months: Annotated[int, Field(ge=0, le=120)] | None = None
    # The staging copy stands in for a source when that source's last extract and last full
    # reconcile are both younger than this; else the audit reads the source itself.
    staging_max_age_hours: Annotated[float, Field(gt=0, le=24 * 31)] = 26.0


class Sources(_Strict):
    personio: PersonioSource | None = None
    awork: AworkSource | None = None
    hq_to_awork: HqToAworkSource | None = None
    timesheets: TimesheetsSource | None = None

    @model_validator(mode="after")
    def _has_a_source(self) -> Sources:
        if self.personio is None and self.awork is None and self.hq_to_awork is None and self.timesheets is None:
            raise ValueError(
                "configure at least one source (sources.personio, sources.awork, sources.hq_to_awork "
                "or sources.timesheets)"
            )
        return self


class Connections(_Strict):
    hq: str | None = None
    awork: str | None = None
    personio: str | None = None


class TenantConfig(_Strict):
    """One tenant, as read from ``include/tenants/<id>.yaml``."""

    id: Annotated[str, Field(pattern=TENANT_ID_PATTERN, min_length=2, max_length=40)]
    display_name: Annotated[str, Field(min_length=1)]
    timezone: TimeZone = "Europe/Berlin"
    sources: Sources
    connections: Connections = Field(default_factory=Connections)
    enabled: bool = True
    audit: AuditSettings = Field(default_factory=AuditSettings)

    @property
    def slug(self) -> str:
        """The id as used in connection ids and env vars (``-`` → ``_``)."""
        return self.id.replace("-", "_")

    def connection_id(self, system: str) -> str:
        """The Airflow connection id holding this tenant's credentials for ``system``."""
        kind = kinds.KINDS.get(system)
        name = (kind.connection or system) if kind else system  # HQ → awork writes with the awork connection
        return getattr(self.connections, name) or f"{name}_{self.slug}"

    def source(self, name: str) -> PersonioSource | AworkSource | HqToAworkSource | TimesheetsSource | None:
        found: PersonioSource | AworkSource | HqToAworkSource | TimesheetsSource | None = getattr(self.sources, name)
        return found

    def synced_source(self, name: str) -> PersonioSource | AworkSource:
        """The settings of a source read by date from its ``sync_start_date`` (Personio, awork)."""
        found = self.source(name)
        if not isinstance(found, PersonioSource | AworkSource):
            raise ValueError(f"{self.id} has no {name} source read by date")
        return found

    def enabled_sources(self) -> list[str]:
        """Sources with a DAG: configured, enabled, and the tenant itself enabled."""
        if not self.enabled:
            return []
        return [s for s in SOURCES if (cfg := self.source(s)) is not None and cfg.enabled]

    def dag_id(self, source: str) -> str:
        return dag_id_for(source, self.id)

    def audited_sources(self) -> list[str]:
        """The sources the drift audit compares with HQ ([] when the audit is off): awork, Personio."""
        if not self.audit.enabled:
            return []
        return [s for s in ("awork", "personio") if s in self.enabled_sources()]


def dag_id_for(source: str, tenant_id: str) -> str:
    """``personio_absences__<tenant>`` or ``awork_times__<tenant>``."""
    return f"{DAG_ID_PREFIX[source]}__{tenant_id}"


@dataclass(frozen=True)
class FieldProblem:
    field: str  # dotted path, e.g. "sources.personio.schedule"
    reason: str


@dataclass(frozen=True)
class TenantFileError:
    """Why one tenant file could not be used."""

    path: Path
    problems: tuple[FieldProblem, ...]

    @property
    def tenant_hint(self) -> str:
        """The tenant id the file is meant for (its file name)."""
        return self.path.stem

    def message(self) -> str:
        lines = [f"tenant file {self.path.name} is invalid:"]
        lines += [f"  - {p.field}: {p.reason}" for p in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class StaleTenant:
    """A broken tenant file whose tenant runs on its last valid copy (``hq_sync.config.last_valid``)."""

    error: TenantFileError  # what is wrong with the file now
    copy: Path  # the stored copy the tenant's config was read from
    saved_at: datetime  # when that copy was stored: "the last valid configuration from"

    def note(self) -> str:
        return f"running on the last valid configuration from {self.saved_at:%Y-%m-%d %H:%M} UTC"


@dataclass
class TenantLoad:
    tenants: list[TenantConfig] = field(default_factory=list)  # with the stale ones' last valid config
    errors: list[TenantFileError] = field(default_factory=list)  # broken files without a last valid copy
    stale: dict[str, StaleTenant] = field(default_factory=dict)  # tenant id → its broken file and copy


def _problems_from(exc: ValidationError) -> tuple[FieldProblem, ...]:
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(file)"
        reason = err["msg"]
        if err["type"] == "extra_forbidden":
            reason = "unknown field (check the spelling; see docs/tenants.md)"
        elif err["type"] == "missing":
            reason = "required field is missing"
        problems.append(FieldProblem(where, reason.removeprefix("Value error, ")))
    return tuple(problems)


# Parsing stays cheap at hundreds of tenants (issue #11): libyaml's loader where it is built in,
# and a bound on what one file may cost, so that a huge or alias-bomb file is refused quickly as
# that tenant's own error instead of stalling the DAG file that holds every other tenant.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_TENANT_FILE_BYTES = 256 * 1024
MAX_TENANT_NODES = 20_000  # values after expanding YAML aliases


class _TooManyNodes(ValueError):
    pass


def _check_size(value: Any, budget: list[int]) -> None:
    """Walk the loaded document; raises _TooManyNodes past ``MAX_TENANT_NODES`` values."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooManyNodes
    if isinstance(value, dict):
        for key, item in value.items():
            _check_size(key, budget)
            _check_size(item, budget)
    elif isinstance(value, list):
        for item in value:
            _check_size(item, budget)


def _read_tenant_yaml(path: Path, read: list[bytes] | None = None) -> Any:
    """The loaded YAML of a tenant file; raises ValueError for a file over the size bounds.
    ``read``: receives the file's bytes (for the last valid copy)."""
    size = path.stat().st_size
    if size > MAX_TENANT_FILE_BYTES:
        raise ValueError(f"file is {size} bytes; a tenant file may hold at most {MAX_TENANT_FILE_BYTES}")
    data = path.read_bytes()
    if read is not None:
        read.append(data)
    raw = yaml.load(data.decode("utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    try:
        _check_size(raw, [MAX_TENANT_NODES])
    except (_TooManyNodes, RecursionError):
        raise ValueError(
            f"more than {MAX_TENANT_NODES} values (YAML aliases expanded); a tenant file needs far fewer"
        ) from None
    return raw


def parse_tenant_file(
    path: Path, *, expected_id: str | None = None, read: list[bytes] | None = None
) -> TenantConfig | TenantFileError:
    """Validate one tenant file; returns the config or an error naming field and reason.

    ``expected_id``: the id the file must hold (default: its file name); ``read``: receives the bytes."""
    expected_id = expected_id or path.stem
    try:
        raw: Any = _read_tenant_yaml(path, read)
    except (OSError, UnicodeDecodeError) as exc:
        return TenantFileError(path, (FieldProblem("(file)", f"cannot be read: {exc}"),))
    except ValueError as exc:
        return TenantFileError(path, (FieldProblem("(file)", str(exc)),))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        reason = f"not valid YAML: {getattr(exc, 'problem', None) or exc}"
        return TenantFileError(path, (FieldProblem(where, reason),))
    if not isinstance(raw, dict):
        return TenantFileError(path, (FieldProblem("(file)", "expected a YAML mapping"),))
    try:
        tenant = TenantConfig.model_validate(raw)
    except ValidationError as exc:
        return TenantFileError(path, _problems_from(exc))
    if tenant.id != expected_id:
        return TenantFileError(
            path,
            (FieldProblem("id", f"must equal the file name ({expected_id!r}), found {tenant.id!r}"),),
        )
    return tenant


def tenant_files(directory: Path | None = None) -> list[Path]:
    """Tenant files in a directory, sorted; files starting with ``_`` or ``.`` are ignored."""
    directory = directory or tenants_dir()
    if not directory.is_dir():
        return []
    files: Iterable[Path] = (*directory.glob("*.yaml"), *directory.glob("*.yml"))
    return sorted(p for p in files if not p.name.startswith(("_", ".")))


def load_tenants(
    directory: Path | None = None,
    only: str | None = None,
    select: Callable[[str], bool] | None = None,
    *,
    last_valid: bool = False,
) -> TenantLoad:
    """Every tenant file of ``directory`` (default: ``include/tenants``), each validated on its own.

    ``only``: read just the file of this tenant id (a task run needs only its own tenant).
    ``select``: read just the files whose name (without suffix) it accepts (a DAG file's shard).
    Returns the valid tenants and one error per broken file; duplicates are impossible because
    the id must equal the file name, and ``x.yaml`` next to ``x.yml`` is reported as an error.

    ``last_valid``: keep a copy of each valid file (``hq_sync.config.last_valid``) and read a broken
    file's tenant from its last valid copy: it is then in ``tenants`` and in ``stale`` (not in
    ``errors``). The DAG factory, the tasks and the status page use it.
    """
    from hq_sync.config.last_valid import LastValidStore

    directory = directory or tenants_dir()
    store = LastValidStore.for_tenants_dir(directory) if last_valid else None
    result = TenantLoad()
    seen: dict[str, Path] = {}
    for path in tenant_files(directory):
        if (only is not None and path.stem != only) or (select is not None and not select(path.stem)):
            continue
        if path.stem in seen:
            result.errors.append(
                TenantFileError(
                    path, (FieldProblem("id", f"tenant {path.stem!r} is also defined in {seen[path.stem].name}"),)
                )
            )
            continue
        seen[path.stem] = path
        read: list[bytes] = []
        parsed = parse_tenant_file(path, read=read)
        if store is not None and not isinstance(parsed, TenantFileError):
            store.remember(parsed.id, read[0])
        elif store is not None and (copy := store.latest(path.stem)) is not None:
            assert isinstance(parsed, TenantFileError)  # narrowed by the branch above
            previous = parse_tenant_file(copy.path, expected_id=path.stem)
            if not isinstance(previous, TenantFileError):  # a copy this code no longer accepts is no fallback
                result.tenants.append(previous)
                result.stale[previous.id] = StaleTenant(parsed, copy.path, copy.saved_at)
                continue
        if isinstance(parsed, TenantFileError):
            result.errors.append(parsed)
        else:
            result.tenants.append(parsed)
    return result

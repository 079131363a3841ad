"""Go-live probe: what the tenant's real services do where our sources are unsure (issue #10).

    python -m hq_sync.ops.probe --tenant acme [--json]

Read-only (it writes nothing to HQ, Personio or awork; an HQ OAuth refresh stores the rotated
token, as every run does) and a handful of requests. For each assumption the sync does **not**
rely on, it prints what the tenant's service does, and what the sync will do about it:

1. HQ's server page size and ``@odata.nextLink``        (2 requests)
2. HQ's string comparison (case)                        (1 request)
3. HQ's token lifetime (static token or OAuth)           (0–1 request)
4. Personio's day-end convention, from a breakdown        (2–7 requests)
5. Personio's end filter and open-ended periods          (0–1 request, after 4)
6. awork's filterby and orderby on /timeentries          (3–4 requests)

Verdicts: ``as expected`` (the service behaves as the sandbox's default assumes), ``differs``
(it does not; the sync handles it as printed), ``undetermined`` (the data does not tell, e.g. no
open-ended absence exists yet; the sync does not depend on it), ``not configured`` (the tenant
has no such source) or ``error`` (the check could not run: the message says why). Exit code 0
unless a check ended in ``error`` (1), or the tenant file or its connections are unusable (2).
docs/runbook.md makes this the first step of taking a tenant live.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from hq_sync.clients.http import ApiError
from hq_sync.config import TenantConfig
from hq_sync.timeutil import parse_day, parse_personio_local

if TYPE_CHECKING:
    from hq_sync.pipelines.personio_day_end import DayEnd

PERIOD_PAGES = 5  # at most this many pages (of 100) of recent Personio periods are looked at
BREAKDOWNS = 3  # at most this many breakdowns are read


class Status(StrEnum):
    EXPECTED = "as expected"
    DIFFERS = "differs"
    UNDETERMINED = "undetermined"
    NOT_CONFIGURED = "not configured"
    ERROR = "error"


@dataclass(frozen=True)
class Verdict:
    """One assumption: what the tenant's service does, and what the sync does about it."""

    assumption: str
    status: Status
    finding: str
    sync_does: str
    requests: int = 0


# -- HQ ---------------------------------------------------------------------------------------
def hq_paging(hq: Any) -> Verdict:
    """Does HQ cut collections short, and does it say so with ``@odata.nextLink``?"""
    name = "HQ server page size and @odata.nextLink"
    does = (
        "follows @odata.nextLink; without one it reads on with the next $skip until @odata.count "
        "entities (or an empty page) were seen, so a smaller server page size never truncates a read"
    )
    before = hq.requests_sent
    cut: tuple[str, int, int | None, bool] | None = None
    largest, no_count = 0, False
    for path in ("UserReportings", "Users"):
        body = hq.get_json(path, {"$top": 1000, "$count": "true", "$select": "Id"})
        values, count, link = body.get("value") or [], body.get("@odata.count"), bool(body.get("@odata.nextLink"))
        no_count = no_count or not isinstance(count, int)
        largest = max(largest, len(values))
        if (isinstance(count, int) and len(values) < min(count, 1000)) or (link and values):
            cut = cut or (path, len(values), count if isinstance(count, int) else None, link)
    used = hq.requests_sent - before
    count_note = "; HQ ignored $count=true (a short page then costs one more request)" if no_count else ""
    if cut is None:
        return Verdict(
            name,
            Status.EXPECTED if not no_count else Status.DIFFERS,
            f"no collection was cut short: up to {largest} entities came in one page (server page size "
            f"≥ {largest}, if smaller than 1000 it shows only with more data){count_note}",
            does,
            used,
        )
    path, size, count, link = cut
    if link:
        return Verdict(
            name,
            Status.EXPECTED,
            f"HQ serves {size} entities per page ({path}: {size} of {count or 'more'}) "
            f"and sends @odata.nextLink{count_note}",
            does,
            used,
        )
    return Verdict(
        name,
        Status.DIFFERS,
        f"HQ serves {size} entities per page ({path}: {size} of {count or 'more'}) WITHOUT @odata.nextLink{count_note}",
        does,
        used,
    )


def hq_case(hq: Any) -> Verdict:
    """Does HQ's ``$filter`` compare strings with or without case?"""
    name = "HQ string comparison"
    does = "compares e-mails, custom-field names, SyncIds and offer numbers itself, in any case: it works either way"
    before = hq.requests_sent
    users = [
        u
        for u in hq.get_json("Users", {"$top": 50, "$select": "Id,EMailWork"}).get("value") or []
        if str(u.get("EMailWork") or "").swapcase() != str(u.get("EMailWork") or "")
    ]
    if not users:
        return Verdict(
            name, Status.UNDETERMINED, "no HQ user has an e-mail to compare", does, hq.requests_sent - before
        )
    email = str(users[0]["EMailWork"])
    other = "'" + email.swapcase().replace("'", "''") + "'"
    found = hq.get_json("Users", {"$filter": f"EMailWork eq {other}", "$select": "Id"}).get("value") or []
    used = hq.requests_sent - before
    if found:
        return Verdict(
            name,
            Status.EXPECTED,
            "HQ compares strings case-insensitively (like SQL Server's default collation)",
            does,
            used,
        )
    return Verdict(name, Status.DIFFERS, "HQ compares strings case-sensitively", does, used)


def hq_tokens(hq: Any) -> Verdict:
    """Static token or OAuth; how long an OAuth access token lives, whether refresh tokens rotate."""
    from hq_sync.clients.hq import HqOAuthTokens

    name = "HQ token lifetime"
    auth = hq.auth
    if not isinstance(auth, HqOAuthTokens):
        return Verdict(
            name,
            Status.EXPECTED,
            "a static sync token (no expiry the sync could know of)",
            "sends it as it is; a rejected token fails the run with the connection's name",
            0,
        )
    before = auth.refreshes
    auth.refresh()
    life = int(auth.last_expires_in or 0)
    rotated = "replaced the refresh token (stored before use)" if auth.last_rotated else "kept the refresh token"
    margin = int(min(300, life / 10))
    return Verdict(
        name,
        Status.EXPECTED if life <= 86400 else Status.DIFFERS,
        f"OAuth: access tokens live {life} s (HQ's example: 1199 s); the refresh {rotated}",
        f"renews each access token {margin} s before it expires and once after a 401, storing every new "
        "refresh token in staging before it is used (docs/runbook.md#connect-hq)",
        auth.refreshes - before,
    )


# -- Personio ---------------------------------------------------------------------------------
@dataclass
class PersonioFindings:
    day_end: Verdict
    open_ended: Verdict


def personio(client: Any, configured_day_end: str, today: date | None = None) -> PersonioFindings:
    """Day-end convention from breakdowns, and the end filter on an open-ended period."""
    before = client.requests_sent
    candidates, open_ended = _day_end_candidates(client)
    verdicts = _breakdown_verdicts(client, candidates)
    day_end = _day_end_verdict(verdicts, configured_day_end, client.requests_sent - before)
    return PersonioFindings(day_end, _open_ended_verdict(client, open_ended))


def _day_end_candidates(client: Any) -> tuple[list[tuple[int, str, date]], dict[str, Any] | None]:
    """Finished day-unit periods ending at midnight on a Tuesday–Friday (length, id, end), and an
    open-ended period if one turns up, from the periods changed in the last 400 days."""
    day_units = {
        str(t["id"]) for page in client.absence_types() for t in page if str(t.get("unit") or "").upper() == "DAY"
    }
    since = datetime.now(UTC) - timedelta(days=400)
    candidates: list[tuple[int, str, date]] = []
    open_ended: dict[str, Any] | None = None
    for number, page in enumerate(client.absence_periods(updated_since=since)):
        for period in page:
            ends = period.get("ends_at") or None
            if str((period.get("absence_type") or {}).get("id")) not in day_units:
                continue
            if not ends or not ends.get("date_time"):
                open_ended = open_ended or period
                continue
            start = parse_personio_local(period["starts_from"]["date_time"])
            end = parse_personio_local(ends["date_time"])
            if end.time() == datetime.min.time() and end.weekday() in (1, 2, 3, 4):
                candidates.append(((end - start).days, str(period["id"]), end.date()))
        if number + 1 >= PERIOD_PAGES or (len(candidates) >= BREAKDOWNS and open_ended):
            break
    return candidates, open_ended


def _breakdown_verdicts(client: Any, candidates: list[tuple[int, str, date]]) -> list[tuple[DayEnd, str]]:
    """The day-end convention each candidate's breakdown shows (shortest first; stops at two alike)."""
    from hq_sync.pipelines.personio_day_end import verdict

    verdicts: list[tuple[DayEnd, str]] = []
    for _, period_id, ends_at in sorted(candidates)[:BREAKDOWNS]:
        entries = client.absence_period_breakdown(period_id) or []
        found = verdict(ends_at, {parse_day(e["date"]) for e in entries if e.get("date")})
        if found is not None:
            verdicts.append((found, period_id))
        if len(verdicts) >= 2 and verdicts[0][0] == verdicts[1][0]:
            break
    return verdicts


def _day_end_verdict(verdicts: list[tuple[DayEnd, str]], configured_day_end: str, used: int) -> Verdict:
    does = (
        "takes the last day from Personio's breakdowns (calibrated per tenant, re-checked daily), whatever "
        f"ends_at says; the tenant file's day_end ({configured_day_end}) applies only until then"
    )
    if not verdicts:
        return Verdict(
            "Personio day end",
            Status.UNDETERMINED,
            "no finished day-unit absence changed in the last 400 days ends on a Tuesday–Friday",
            does,
            used,
        )
    kinds = {v for v, _ in verdicts}
    convention = max(kinds, key=lambda k: sum(1 for v, _ in verdicts if v == k))
    periods = ", ".join(pid for _, pid in verdicts)
    mixed = f"; breakdowns disagree ({', '.join(sorted(k.value for k in kinds))})" if len(kinds) > 1 else ""
    config = "" if convention.value == configured_day_end else f"; the tenant file says {configured_day_end}"
    return Verdict(
        "Personio day end",
        Status.EXPECTED if convention.value == "exclusive" and not mixed else Status.DIFFERS,
        f"day-unit ends_at is {convention.value} (midnight {'after' if convention.value == 'exclusive' else 'of'} "
        f"the last day; periods {periods}){mixed}{config}",
        does,
        used,
    )


def _open_ended_verdict(client: Any, open_ended: dict[str, Any] | None) -> Verdict:
    """Does Personio's ends_at filter keep a period without an end (one request)?"""
    name = "Personio end filter on open-ended periods"
    does5 = (
        "reads the first load by start date only and checks the end itself; an open-ended period missing from a "
        "reconciliation listing is looked up by its id (1 request) before anything is deleted"
    )
    if open_ended is None:
        return Verdict(name, Status.UNDETERMINED, "no open-ended absence in Personio to test the filter with", does5, 0)
    before = client.requests_sent
    start = str(open_ended["starts_from"]["date_time"])[:19]
    body = client.request(
        "GET",
        "/v2/absence-periods",
        params={
            "person.id": str((open_ended.get("person") or {}).get("id")),
            "ends_at.date_time.gte": start,
            "starts_from.date_time.lte": start,
            "limit": 100,
        },
    ).json()
    listed = any(str(p.get("id")) == str(open_ended["id"]) for p in body.get("_data") or [])
    used = client.requests_sent - before
    if listed:
        return Verdict(
            name,
            Status.EXPECTED,
            f"open-ended period {open_ended['id']} passes ends_at.date_time.gte (it never ends)",
            does5,
            used,
        )
    return Verdict(
        name,
        Status.DIFFERS,
        f"ends_at.date_time.gte DROPS open-ended period {open_ended['id']} (its end is null)",
        does5,
        used,
    )


# -- awork ------------------------------------------------------------------------------------
def awork_time_entries(client: Any) -> Verdict:
    """Does /timeentries honour filterby and orderby?"""
    from hq_sync.clients.awork.query import QuerySupport

    before = client.requests_sent
    support = client.time_entry_query_support()
    if support is QuerySupport.HONOURED:
        does = "reads changed time entries incrementally (updatedOn cursor, keyset pages), watching every page"
    else:
        does = (
            "reads /timeentries page by page in awork's own order and filters by updatedOn itself (one read of "
            "all entries per run where filterby is ignored); reported once in the run summary"
        )
    return Verdict(
        "awork filterby/orderby on /timeentries",
        Status.EXPECTED if support is QuerySupport.HONOURED else Status.DIFFERS,
        support.describe(),
        does,
        client.requests_sent - before,
    )


# -- running ----------------------------------------------------------------------------------
def _guard(name: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except (ApiError, OSError, ValueError, KeyError) as exc:
        return Verdict(
            name, Status.ERROR, f"{type(exc).__name__}: {exc}", "the sync would fail the same way: fix it first"
        )


def run_probe(tenant: TenantConfig, clients: Any) -> list[Verdict]:
    """Every verdict for the tenant (the checks of sources it has no configuration for are skipped)."""
    sources = tenant.sources
    out: list[Verdict] = []
    hq = _guard("HQ connection", clients.hq)
    if isinstance(hq, Verdict):
        out.append(hq)
    else:
        out.append(_guard("HQ server page size and @odata.nextLink", lambda: hq_paging(hq)))
        out.append(_guard("HQ string comparison", lambda: hq_case(hq)))
        out.append(_guard("HQ token lifetime", lambda: hq_tokens(hq)))
    personio_cfg = sources.personio
    if personio_cfg is not None:
        found = _guard("Personio", lambda: personio(clients.personio(), personio_cfg.day_end))
        out += [found] if isinstance(found, Verdict) else [found.day_end, found.open_ended]
    else:
        out += [
            Verdict(n, Status.NOT_CONFIGURED, "the tenant has no Personio source", "-")
            for n in ("Personio day end", "Personio end filter on open-ended periods")
        ]
    if sources.awork is not None:
        out.append(_guard("awork filterby/orderby on /timeentries", lambda: awork_time_entries(clients.awork())))
    else:
        out.append(
            Verdict(
                "awork filterby/orderby on /timeentries", Status.NOT_CONFIGURED, "the tenant has no awork source", "-"
            )
        )
    return out


def render(tenant: TenantConfig, verdicts: list[Verdict]) -> str:
    """The printed report."""
    lines = [
        f"Go-live probe for tenant {tenant.id} ({tenant.display_name}); read-only, "
        f"{sum(v.requests for v in verdicts)} requests",
        "",
    ]
    for number, v in enumerate(verdicts, 1):
        lines.append(f"{number}. {v.assumption}: {v.status.value.upper()}")
        lines.append(f"   found:    {v.finding}")
        lines.append(f"   the sync: {v.sync_does}")
    errors = [v for v in verdicts if v.status is Status.ERROR]
    lines += [
        "",
        "Result: "
        + (
            f"{len(errors)} check(s) could not run: fix them before going live"
            if errors
            else "every check ran; the sync handles what differs as printed"
        ),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hq_sync.ops.probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", required=True, help="tenant id (include/tenants/<id>.yaml)")
    parser.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    args = parser.parse_args(argv)

    # Airflow configures its logging (to stdout) lazily; the verdicts (and --json) own stdout, so
    # everything logged while probing goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        from hq_sync.airflow.hooks import ConnectionClients, MissingConnection, StagingHook, cli_connection
        from hq_sync.airflow.tasks import TenantConfigInvalid, load_tenant

        logging.basicConfig(
            stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", force=True
        )
        try:
            tenant = load_tenant(args.tenant)
            clients = ConnectionClients(tenant, StagingHook().get_engine(), get_connection=cli_connection)
            verdicts = run_probe(tenant, clients)
        except (TenantConfigInvalid, MissingConnection) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps([{**asdict(v), "status": v.status.value} for v in verdicts], indent=2))
    else:
        print(render(tenant, verdicts))
    return 1 if any(v.status is Status.ERROR for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Load one tenant's ``personio:`` scenario section into a running Personio sandbox over HTTP.

Master data (the tenant and its credential, persons, absence types) goes through the admin
endpoints; absence periods go through the vendor's ``POST /v2/absence-periods`` (with
``?skip_approval=true`` for approved ones) and ``PATCH`` for other approval states. Records refer to
each other by natural keys: persons by e-mail, absence types by name. Section format: see
docs/sandbox/personio.md.
"""

from __future__ import annotations

import random
import time
from datetime import date, datetime, timedelta
from typing import Any

import requests

APPROVAL_STATES = ("APPROVED", "PENDING", "REJECTED", "CANCELLED", "DELETION_PENDING", "SUBSTITUTE_REQUESTED")
TENANT_KEYS = ("client_id", "client_secret", "token_lifetime_seconds", "scopes", "timezone_id")
FULL_SCOPES = [
    "personio:absences:read",
    "personio:absences:write",
    "personio:persons:read",
    "personio:webhooks:read",
    "personio:webhooks:write",
]


class SeedError(ValueError):
    """The section is invalid or the sandbox refused part of it."""


class _Client:
    """A small HTTP helper: admin calls and vendor calls with a bearer token, retrying 429s."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.token: str | None = None

    def call(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.token and not path.startswith("/_sandbox"):
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(20):
            resp = self.session.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)
            # Personio sends no Retry-After; back off a little when rate limits are switched on.
            if resp.status_code != 429:
                break
            time.sleep(min(2.0, 0.1 * (attempt + 1)))
        if resp.status_code >= 400:
            raise SeedError(f"{what}: {method} {path} -> {resp.status_code} {resp.text}")
        return resp


def _as_date(value: Any, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise SeedError(f"{what}: {value!r} is not a date") from None


def _as_datetime(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        return datetime.fromisoformat(str(value).replace(" ", "T")).replace(tzinfo=None)
    except ValueError:
        raise SeedError(f"{what}: {value!r} is not a date-time") from None


def _boundaries(
    item: dict[str, Any], unit: str, end_boundary: str, what: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Return the API's ``starts_from`` and ``ends_at`` for a scenario period."""
    if "start" not in item:
        raise SeedError(f"{what}: 'start' is required")
    end_value = item.get("end")
    if unit == "HOUR":
        start = _as_datetime(item["start"], what)
        if end_value is None:
            raise SeedError(f"{what}: hour-unit periods need 'end'")
        end = _as_datetime(end_value, what)
        return (
            {"date_time": start.strftime("%Y-%m-%dT%H:%M:%S"), "type": None},
            {"date_time": end.strftime("%Y-%m-%dT%H:%M:%S"), "type": None},
        )
    start_day = _as_date(item["start"], what)
    start_type = "SECOND_HALF" if item.get("half_day_start") else "FIRST_HALF"
    end_type = "FIRST_HALF" if item.get("half_day_end") else "SECOND_HALF"
    start_type = item.get("start_type", start_type)
    end_type = item.get("end_type", end_type)
    starts_from = {"date_time": f"{start_day.isoformat()}T00:00:00", "type": start_type}
    if end_value is None:
        return starts_from, None
    # Scenario ends are the inclusive last day; the API's convention follows the sandbox switch.
    last_day = _as_date(end_value, what)
    api_day = last_day if end_boundary == "inclusive" else last_day + timedelta(days=1)
    return starts_from, {"date_time": f"{api_day.isoformat()}T00:00:00", "type": end_type}


def seed_tenant(base_url: str, tenant: str, section: dict[str, Any]) -> list[str]:
    """Load ``section`` for ``tenant`` into the sandbox at ``base_url``; returns summary lines.

    Persons and absence types that already exist (same e-mail / name) are reused, so a section
    can be loaded onto a tenant holding master data already; absence periods are always created.
    """
    if not isinstance(section, dict):
        raise SeedError(f"personio {tenant}: the section must be a mapping")
    unknown = set(section) - {*TENANT_KEYS, "persons", "absence_types", "absence_periods"}
    if unknown:
        raise SeedError(f"personio {tenant}: unknown keys {sorted(unknown)}")
    client = _Client(base_url)
    registration = {"tenant": tenant, **{k: section[k] for k in TENANT_KEYS if k in section}}
    if "client_id" not in registration or "client_secret" not in registration:
        raise SeedError(f"personio {tenant}: client_id and client_secret are required")
    wanted_scopes = registration.get("scopes")
    # Seed with every scope; a restricted scope list is applied at the end.
    client.call("POST", "/_sandbox/tenants", f"personio {tenant}", json={**registration, "scopes": FULL_SCOPES})

    admin = f"/_sandbox/tenants/{tenant}"
    persons = {p["email"].lower(): p for p in client.call("GET", f"{admin}/persons", "persons").json()["persons"]}
    new_persons = [p for p in section.get("persons", []) if str(p.get("email", "")).lower() not in persons]
    if new_persons:
        created = client.call(
            "POST", f"{admin}/persons", f"personio {tenant} persons", json={"persons": new_persons}
        ).json()["persons"]
        persons.update({p["email"].lower(): p for p in created})

    def load_types() -> dict[str, dict[str, Any]]:
        listed = client.call("GET", f"{admin}/absence-types", "absence types").json()
        return {t["name"]: t for t in listed["absence_types"]}

    types = load_types()
    new_types = [t for t in section.get("absence_types", []) if t.get("name") not in types]
    if new_types:
        client.call(
            "POST", f"{admin}/absence-types", f"personio {tenant} absence types", json={"absence_types": new_types}
        )
        types = load_types()

    periods = section.get("absence_periods", [])
    if periods:
        _seed_periods(client, tenant, registration, periods, persons, types)

    if wanted_scopes is not None and sorted(wanted_scopes) != sorted(FULL_SCOPES):
        client.call("POST", "/_sandbox/tenants", f"personio {tenant}", json=registration)
        client.call("POST", f"{admin}/invalidate-tokens", f"personio {tenant}")

    return [f"personio {tenant}: {len(persons)} persons, {len(types)} absence types, {len(periods)} absence periods"]


def _seed_periods(
    client: _Client,
    tenant: str,
    registration: dict[str, Any],
    items: list[dict[str, Any]],
    persons: dict[str, dict[str, Any]],
    types: dict[str, dict[str, Any]],
) -> None:
    token = client.call(
        "POST",
        "/v2/auth/token",
        f"personio {tenant} token",
        data={
            "grant_type": "client_credentials",
            "client_id": registration["client_id"],
            "client_secret": registration["client_secret"],
        },
    ).json()
    client.token = token["access_token"]
    end_boundary = client.call("GET", "/_sandbox/settings", "settings").json()["day_end_boundary"]
    for index, item in enumerate(items):
        what = f"personio {tenant} absence_periods[{index}]"
        person = persons.get(str(item.get("person", "")).lower())
        if person is None:
            raise SeedError(f"{what}: unknown person {item.get('person')!r}")
        absence_type = types.get(item.get("type"))
        if absence_type is None:
            raise SeedError(f"{what}: unknown absence type {item.get('type')!r}")
        status = str(item.get("status", "APPROVED")).upper()
        if status not in APPROVAL_STATES:
            raise SeedError(f"{what}: status must be one of {APPROVAL_STATES}")
        starts_from, ends_at = _boundaries(item, absence_type["unit"], end_boundary, what)
        body: dict[str, Any] = {
            "person": {"id": person["id"]},
            "absence_type": {"id": absence_type["id"]},
            "starts_from": starts_from,
            "ends_at": ends_at,
            "comment": item.get("comment"),
        }
        skip = "true" if status == "APPROVED" else "false"
        created = client.call("POST", f"/v2/absence-periods?skip_approval={skip}", what, json=body).json()
        # POST yields APPROVED (skip_approval, or a type without approval) or PENDING; any other
        # state is reached with a PATCH, as an approver's decision would.
        created_status = "APPROVED" if status == "APPROVED" or not absence_type["approval_required"] else "PENDING"
        if status != created_status:
            client.call("PATCH", f"/v2/absence-periods/{created['id']}", what, json={"approval": {"status": status}})


# -- a generated section (demo data, benchmarks) --------------------------------------------------
DEMO_TYPES = [
    {"name": "Urlaub", "category": "PAID_VACATION", "unit": "DAY"},
    {"name": "Krankheit", "category": "SICK_LEAVE", "unit": "DAY", "approval_required": False},
    {"name": "Arzttermin", "category": "OTHER", "unit": "HOUR"},
    {"name": "Unbezahlter Urlaub", "category": "UNPAID_VACATION", "unit": "DAY"},
    {"name": "Elternzeit", "category": "MATERNITY_PARENTAL_LEAVE", "unit": "DAY"},
    # Custom types, as companies define them.
    {"name": "Sonderurlaub Umzug", "category": "OTHER", "unit": "DAY"},
    {"name": "Workation", "category": "OFFSITE_WORK", "unit": "DAY"},
    {"name": "Fortbildung", "category": None, "unit": "DAY"},
]
_FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hannes",
    "Ida",
    "Jonas",
    "Klara",
    "Lukas",
    "Mia",
    "Noah",
    "Olivia",
    "Paul",
    "Quirin",
    "Rosa",
    "Simon",
    "Tara",
]
_LAST = [
    "Schmidt",
    "Meyer",
    "Weber",
    "Fischer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Koch",
    "Richter",
    "Wolf",
    "Neumann",
    "Braun",
    "Zimmermann",
    "Hartmann",
    "Krause",
]


def demo_section(
    tenant: str, persons: int = 25, year: int = 2026, seed: int = 0, domain: str | None = None
) -> dict[str, Any]:
    """Return a generated ``personio:`` section: ``persons`` people with about 24 absences each
    over ``year`` (vacations, sick days, half days, doctor's appointments in hours, custom types,
    pending/rejected/cancelled requests, one open-ended sick leave), never overlapping."""
    rng = random.Random(f"{tenant}-{seed}")
    domain = domain or f"{tenant}.example"
    people = []
    for i in range(persons):
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i * 7) % len(_LAST)]
        people.append(
            {
                "email": f"{first.lower()}.{last.lower()}{i}@{domain}",
                "first_name": first,
                "last_name": last,
                "status": "INACTIVE" if i % 12 == 11 else "ACTIVE",
            }
        )
    periods: list[dict[str, Any]] = []
    for index, person in enumerate(people):
        day = date(year, 1, 1) + timedelta(days=rng.randint(0, 9))
        end_of_year = date(year, 12, 31)
        while True:
            day += timedelta(days=rng.randint(4, 16))
            if day > end_of_year - timedelta(days=14):
                break
            roll = rng.random()
            item: dict[str, Any] = {"person": person["email"], "status": "APPROVED"}
            if roll < 0.3:
                length = rng.randint(1, 10)
                item.update(
                    type="Urlaub",
                    start=day,
                    end=day + timedelta(days=length - 1),
                    comment=rng.choice([None, "Sommerurlaub", "Familie", "Brückentag"]),
                )
                item["status"] = rng.choice(["APPROVED"] * 8 + ["PENDING", "REJECTED", "CANCELLED"])
                day += timedelta(days=length)
            elif roll < 0.45:
                length = rng.randint(1, 3)
                item.update(type="Krankheit", start=day, end=day + timedelta(days=length - 1))
                day += timedelta(days=length)
            elif roll < 0.6:
                item.update(
                    type="Urlaub", start=day, end=day, **rng.choice([{"half_day_start": True}, {"half_day_end": True}])
                )
            elif roll < 0.8:
                hour = rng.randint(8, 15)
                item.update(
                    type="Arzttermin",
                    start=datetime(day.year, day.month, day.day, hour),
                    end=datetime(day.year, day.month, day.day, hour, 30) + timedelta(hours=rng.randint(0, 2)),
                )
            else:
                kind = rng.choice(["Sonderurlaub Umzug", "Workation", "Fortbildung", "Unbezahlter Urlaub"])
                length = rng.randint(1, 5)
                item.update(type=kind, start=day, end=day + timedelta(days=length - 1))
                day += timedelta(days=length)
            periods.append(item)
        if index == 0:
            # Long-term sick leave without an end, after everything else of this person.
            periods.append(
                {
                    "person": person["email"],
                    "type": "Krankheit",
                    "start": end_of_year - timedelta(days=3),
                    "end": None,
                    "comment": "Langzeit",
                    "status": "APPROVED",
                }
            )
    return {
        "client_id": f"{tenant}-personio",
        "client_secret": f"{tenant}-secret",
        "persons": people,
        "absence_types": [dict(t) for t in DEMO_TYPES],
        "absence_periods": periods,
    }

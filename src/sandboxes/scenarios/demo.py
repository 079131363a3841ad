"""The demo scenario: two German agencies of about 25 people, a year of data, every product rule.

Generated deterministically (no large file in the repository). Each tenant has the same people in
HQ, awork and Personio (matched by e-mail), with deliberate exceptions, so that the demo shows
every rule of product.md:

- awork: 10 projects linked to HQ through "awork Link", list names like ``Konzeption [5,4d]`` and
  ``Review [2,5h]`` (plus a malformed ``Abnahme [viel]``), a task in two lists, a type of work with
  no HQ task type ("Meeting intern"), a freelancer with no HQ user, a year of time entries.
- Personio: custom absence types (Workation, Sonderurlaub Umzug, Fortbildung), half days, a half
  day on the "nur ganztägig" type Elternzeit, an open-ended sick leave, pending / rejected /
  cancelled requests, a person without HQ user, and an absence marked ``demo: delete me`` to
  delete after the first sync (docs/sandbox.md shows how).
- HQ: users, task types, project roles, a rate rule with role and task-type rates, companies,
  projects with members and roles; the Personio sync switch is on (B7).
- Timesheets (C1): for muster-agentur, a timeBro Excel export and a CSV from an agency tool
  (``demo_timesheets``) that ``make demo`` drops into the tenant's timesheet folder; their rows go
  to the HQ project "Geschäftsbericht" (HQ only, not linked to awork); one row names an unknown project.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sandboxes.personio.seed import demo_section as personio_demo_section

TENANTS = {
    "muster-agentur": {"name": "Muster Agentur GmbH", "city": "Hamburg"},
    "nordlicht-digital": {"name": "Nordlicht Digital GmbH", "city": "Kiel"},
}
YEAR = 2026
TASK_TYPES = ["Konzeption", "Design", "Entwicklung", "Projektmanagement"]
ROLES = ["Projektleitung", "Design", "Entwicklung"]
CUSTOMERS = ["Hafenkontor AG", "Elbe Logistik GmbH", "Stadtwerke Nord", "Fischmarkt Feinkost KG"]
PROJECT_NAMES = [
    "Website Relaunch",
    "Markenbroschüre",
    "Online-Shop",
    "Kampagne Frühjahr",
    "Intranet",
    "App Kundenportal",
    "Messestand",
    "Newsletter-Design",
    "SEO-Audit",
    "Jahresbericht",
]
LISTS = ["Konzeption [5,4d]", "Design", "Umsetzung [12d]", "Review [2,5h]", "Abnahme [viel]"]
TIMESHEET_PROJECT = "Geschäftsbericht"  # HQ only (no awork link): where the demo timesheets book
TIMESHEET_TENANTS = ("muster-agentur",)


def demo_credentials() -> dict[str, dict[str, str]]:
    """The sandbox credentials of each demo tenant (the demo registers them as Airflow connections)."""
    return {
        tenant: {
            "hq_sync_token": f"demo-hq-{tenant}",
            "awork_api_key": f"demo-awork-{tenant}",
            "personio_client_id": f"{tenant}-personio",
            "personio_client_secret": f"{tenant}-secret",
        }
        for tenant in TENANTS
    }


def _tenant(tenant: str, info: dict[str, str], persons: int = 25, entry_days: int | None = None) -> dict[str, Any]:
    creds = demo_credentials()[tenant]
    domain = f"{tenant}.example"
    personio = personio_demo_section(tenant, persons=persons, year=YEAR, domain=domain)
    people = personio["persons"]
    emails = [p["email"] for p in people]
    # Personio extras: a half day on a "nur ganztägig" type, and an absence to delete after sync.
    personio["absence_periods"] += [
        {
            "person": emails[1],
            "type": "Elternzeit",
            "start": date(YEAR, 12, 28),
            "end": date(YEAR, 12, 28),
            "half_day_end": True,
            "comment": "halber Tag Elternzeit",
        },
        {
            "person": emails[2],
            "type": "Urlaub",
            "start": date(YEAR, 12, 29),
            "end": date(YEAR, 12, 30),
            "comment": "demo: delete me",
        },
    ]

    hq_people = [p for i, p in enumerate(people) if i != 7]  # person 7 has no HQ user (quarantine)
    hq = {
        "sync_token": creds["hq_sync_token"],
        "personio_sync": True,
        "users": [{"first_name": p["first_name"], "last_name": p["last_name"], "email": p["email"]} for p in hq_people],
        "task_types": ["Standard", *TASK_TYPES],
        "project_roles": ROLES,
        "project_statuses": [{"name": "Laufend", "in_progress": True}, {"name": "Abgeschlossen", "in_progress": False}],
        "project_templates": [{"name": "Kundenprojekt", "statuses": ["Laufend", "Abgeschlossen"]}],
        "company_types": ["Kunde"],
        "custom_fields": [
            {"name": "awork Link", "type": "Link", "category": "Project"},
            {"name": "awork-Projekt anlegen", "type": "Boolean", "category": "Project"},
        ],
        "rate_rules": [
            {
                "name": "Agentur Standard",
                "external": 110,
                "internal": 55,
                "roles": {"Projektleitung": {"external": 140, "internal": 70}},
                "task_types": {"Konzeption": {"external": 125, "internal": 60}},
                "role_task_types": [
                    {"role": "Design", "task_type": "Design", "external": 120, "internal": 58},
                    {"role": "Entwicklung", "task_type": "Entwicklung", "external": 130, "internal": 62},
                ],
            }
        ],
        "companies": [
            {
                "name": c,
                "rate_rule": "Agentur Standard",
                "types": ["Kunde"],
                "address": {
                    "street": "Hafenstraße",
                    "house_number": str(i + 1),
                    "zip_code": "20457",
                    "city": info["city"],
                },
            }
            for i, c in enumerate(CUSTOMERS)
        ],
        "projects": [
            {
                "name": name,
                "company": CUSTOMERS[i % len(CUSTOMERS)],
                "start": date(YEAR, 1, 1).isoformat(),
                "end": date(YEAR, 12, 31).isoformat(),
                "status": "Laufend",
                "members": [
                    {"email": hq_people[(i * 2) % len(hq_people)]["email"], "role": "Projektleitung"},
                    {"email": hq_people[(i * 2 + 1) % len(hq_people)]["email"], "role": "Design"},
                    {"email": hq_people[(i * 2 + 2) % len(hq_people)]["email"], "role": "Entwicklung"},
                ],
            }
            for i, name in enumerate(PROJECT_NAMES)
        ]
        + [
            {
                # C1: not linked to awork; the demo timesheets book on it (demo_timesheets).
                "name": TIMESHEET_PROJECT,
                "company": CUSTOMERS[1],
                "status": "Laufend",
                "start": date(YEAR, 1, 1).isoformat(),
                "end": date(YEAR, 12, 31).isoformat(),
                "phases": [
                    {
                        "name": "Allgemein",
                        "tasks": [{"name": "Redaktion", "task_type": "Konzeption"}, {"name": "Sonstiges"}],
                    }
                ],
            }
        ]
        + [
            {
                # A2: flagged for awork, not linked yet: hq_to_awork__muster-agentur creates it.
                "name": "Website Hafenfest",
                "company": CUSTOMERS[0],
                "status": "Laufend",
                "start": date(YEAR, 11, 1).isoformat(),
                "end": date(YEAR + 1, 3, 31).isoformat(),
                "custom_fields": {"awork-Projekt anlegen": True},
            }
        ],
        "quotations": [
            {
                # A4: an offer with two groups and a loose position (hq_offer_to_awork__<tenant>).
                "project": "Website Hafenfest",
                "subject": "Website Hafenfest",
                "status": "Accepted",
                "positions": [
                    {"type": "GroupHeader", "text": "Konzeption"},
                    {"text": "Workshop <b>Zielgruppen</b>", "amount": 1, "unit": "Tage", "price": 1100},
                    {"text": "Sitemap & Wireframes", "amount": 12, "unit": "h", "price": 125},
                    {"type": "Subtotal"},
                    {"type": "GroupHeader", "text": "Design"},
                    {"text": "Screendesign", "amount": 2.5, "unit": "d", "price": 960},
                    {"type": "Subtotal"},
                    {"text": "Projektmanagement", "amount": 1, "unit": "Pauschal", "price": 800},
                ],
            }
        ],
    }

    awork_users = [
        {"first_name": p["first_name"], "last_name": p["last_name"], "email": p["email"]} for p in people[:20]
    ]
    awork_users[0]["admin"] = True
    awork_users.append({"first_name": "Frieda", "last_name": "Freelance", "email": f"frieda.freelance@{domain}"})
    awork = {
        "workspace": {"name": info["name"]},
        "timezone": "Europe/Berlin",
        "credentials": {"api_keys": [creds["awork_api_key"]]},
        "users": awork_users,
        "types_of_work": [*TASK_TYPES, "Meeting intern"],  # "Meeting intern" has no HQ task type (A7)
        "companies": CUSTOMERS,
        "projects": [
            {
                "name": name,
                "company": CUSTOMERS[i % len(CUSTOMERS)],
                "task_lists": LISTS,
                "tasks": [
                    {
                        "name": "Briefing & Sitemap",
                        "lists": ["Konzeption [5,4d]", "Review [2,5h]"],  # two lists
                        "type_of_work": "Konzeption",
                        "planned_hours": 16,
                    },
                    {"name": "Moodboard", "list": "Design", "type_of_work": "Design", "planned_hours": 12},
                    {"name": "Screendesign", "list": "Design", "type_of_work": "Design", "planned_hours": 24},
                    {"name": "Frontend", "list": "Umsetzung [12d]", "type_of_work": "Entwicklung", "planned_hours": 60},
                    {
                        "name": "Abstimmung",
                        "list": "Abnahme [viel]",
                        "type_of_work": "Meeting intern",
                        "planned_hours": 4,
                    },
                    {"name": "Projektmanagement", "type_of_work": "Projektmanagement", "planned_hours": 20},  # no list
                ],
            }
            for i, name in enumerate(PROJECT_NAMES)
        ],
        "generate_time_entries": {
            "from": (
                date(YEAR, 1, 1)
                if entry_days is None
                else max(date(YEAR, 1, 1), min(date.today(), date(YEAR, 12, 31)) - timedelta(days=entry_days))
            ).isoformat(),
            "to": min(date.today(), date(YEAR, 12, 31)).isoformat(),
            "per_day": 2,
            "seed": 7,
            "billed_until": (date(YEAR, 1, 1) + timedelta(days=89)).isoformat(),
        },
    }
    return {
        "id": tenant,
        "hq": hq,
        "awork": awork,
        "personio": personio,
        # After seeding: HQ project "awork Link" fields point at the awork projects of the same name.
        "links": [{"hq_project": name, "awork_project": name} for name in PROJECT_NAMES[:9]],
    }


def _timesheet_days(today: date, count: int) -> list[date]:
    """The last ``count`` weekdays of the previous week and before (deterministic per day)."""
    day, days = today - timedelta(days=today.weekday() + 3), []  # the Friday before last Monday
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return sorted(days)


def demo_timesheets(tenant: str, today: date | None = None) -> list[tuple[str, bytes]]:
    """The demo's timesheet files of a tenant (name, content): a timeBro Excel export of one person
    (the person is in the file name, as timeBro's one-person export has no person column) and a
    CSV from an agency's own tool (semicolons, German decimal commas, h:mm, Windows-1252)."""
    if tenant not in TIMESHEET_TENANTS:
        return []
    import io

    import openpyxl

    people = personio_demo_section(tenant, persons=25, year=YEAR, domain=f"{tenant}.example")["persons"]
    anna, ben, cleo = people[0], people[1], people[2]
    days = _timesheet_days(today or date.today(), 4)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Zeiten"
    sheet.append([f"timeBro Export {anna['first_name']} {anna['last_name']}"])
    sheet.append([])
    sheet.append(["Projekt", "Datum", "Dauer", "Kommentar"])
    for day, hours, note in zip(
        days,
        (1.5, 2.25, 0.75, 3.0),
        ("Texte Vorwort", "Abstimmung Grafik", "Korrektur", "Bildauswahl"),
        strict=True,
    ):
        sheet.append([TIMESHEET_PROJECT, day, hours, note])
    sheet.append(["Messe 2027 (gibt es in HQ nicht)", days[-1], 1.0, "held back: no such HQ project"])
    sheet.append([None, None, 8.5, "Summe"])
    xlsx = io.BytesIO()
    book.save(xlsx)
    csv_lines = ["Datum;Projekt;Aufgabe;Dauer;Kommentar;E-Mail;Mitarbeiter"]
    for day in days[:3]:
        csv_lines.append(
            f"{day:%d.%m.%Y};{TIMESHEET_PROJECT};Allgemein/Redaktion;1:30;Lektorat Kapitel {day.day};{ben['email']};"
        )
        csv_lines.append(f"{day:%d.%m.%Y};{TIMESHEET_PROJECT};;0,5;Jour fixe;;{cleo['first_name']} {cleo['last_name']}")
    return [
        (f"{anna['email']} timebro {days[0]:%Y-%m}.xlsx", xlsx.getvalue()),
        (f"agenturtool-export-{days[0]:%Y-%m-%d}.csv", ("\r\n".join(csv_lines) + "\r\n").encode("cp1252")),
    ]


def demo_scenario(*, persons: int = 25, entry_days: int | None = None) -> dict[str, Any]:
    """The whole demo scenario (two tenants).

    Smaller, with every rule still in it (the distributed engine's test): ``persons`` per tenant
    (at least 8: person 7 is the one without an HQ user), time entries of the last ``entry_days``
    days only (default: the whole year).
    """
    if persons < 8:
        raise ValueError("the demo scenario needs at least 8 persons per tenant")
    return {"tenants": [_tenant(tenant, info, persons, entry_days) for tenant, info in TENANTS.items()]}

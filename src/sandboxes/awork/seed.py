"""Load one tenant's ``awork:`` scenario section into a running awork sandbox over HTTP.

Master data the public API cannot create (the workspace, users, API keys, OAuth clients) goes
through the ``/_sandbox/`` admin endpoints; everything else (types of work, companies, projects,
task lists, tasks, time entries) through awork's own endpoints, acting as the workspace's first
admin. Records reference each other by natural keys (e-mail, names), never by ids.
The section format is documented in docs/sandbox/awork.md.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

import requests

DEFAULT_TIMEZONE = "Europe/Berlin"
_WORKERS = 8
_NOTES = (
    "Abstimmung",
    "Konzept",
    "Umsetzung",
    "Review",
    "Korrekturen",
    "Meeting",
    "Recherche",
    "Entwurf",
    "Feedback eingearbeitet",
    "Dokumentation",
)


class SeedError(RuntimeError):
    """The section is inconsistent, or the sandbox refused a record."""


class _Api:
    """HTTP helper: admin calls and awork calls with a bearer token (one session per thread)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.session.request(method, f"{self.base_url}/_sandbox{path}", json=body, timeout=60)
        if resp.status_code >= 400:
            raise SeedError(f"{method} /_sandbox{path} -> {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.session.request(
            method,
            f"{self.base_url}/api/v1{path}",
            json=body,
            timeout=60,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if resp.status_code >= 400:
            raise SeedError(f"{method} /api/v1{path} -> {resp.status_code}: {resp.text}")
        return resp.json() if resp.content else None


def _name(item: Any) -> str:
    return str(item if isinstance(item, str) else item["name"])


def _first(item: dict[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in item and item[name] is not None:
            return item[name]
    return default


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _as_time(value: Any) -> str:
    """``HH:MM:SS`` from "9:30", "09:30:00" or YAML 1.1's sexagesimal int (9:30 -> 570)."""
    if isinstance(value, int):
        return f"{value // 60:02d}:{value % 60:02d}:00"
    parts = [int(p) for p in str(value).split(":")]
    while len(parts) < 3:
        parts.append(0)
    return f"{parts[0]:02d}:{parts[1]:02d}:{parts[2]:02d}"


def _seconds(item: dict[str, Any], *, seconds_key: str, hours_key: str) -> int | None:
    """A duration in seconds from ``seconds_key`` (int seconds or "H:MM"), ``hours_key`` or ``minutes``."""
    if item.get(seconds_key) is not None:
        value = item[seconds_key]
        if isinstance(value, str) and ":" in value:
            hours, minutes = value.split(":", 1)
            return int(hours) * 3600 + int(minutes) * 60
        return int(value)
    if item.get(hours_key) is not None:
        return round(float(item[hours_key]) * 3600)
    if item.get("minutes") is not None:
        return int(item["minutes"]) * 60
    return None


def seed_tenant(base_url: str, tenant: str, section: dict[str, Any]) -> list[str]:
    """Load ``section`` (an ``awork:`` scenario section) for ``tenant`` into the sandbox at
    ``base_url``; returns human-readable summary lines."""
    api = _Api(base_url)
    creds = {**section, **(section.get("credentials") or {})}
    settings = dict(section.get("settings") or {})
    users = [dict(u) for u in section.get("users") or []]
    if users and not any(_first(u, "admin", "is_admin", "isAdmin", default=False) for u in users):
        users[0]["admin"] = True  # someone must be able to consent in the OAuth flow

    # The workspace rate limit is off while loading, then the section's (or the default) applies.
    loading = {**settings, "rate_limit_per_minute": None, "rate_limit_per_second": None}
    api.admin(
        "POST",
        "/tenants",
        {
            "tenant": tenant,
            "workspace": section.get("workspace") or {},
            "api_keys": creds.get("api_keys") or [],
            "oauth_clients": creds.get("oauth_clients") or [],
            "settings": loading,
        },
    )
    existing = {u["email"] for u in api.admin("GET", f"/tenants/{tenant}/users")["users"] if u["email"]}
    new_users = [u for u in users if str(u.get("email", "")).lower() not in existing]
    if new_users:
        api.admin("POST", f"/tenants/{tenant}/users", new_users)
    if creds.get("login"):
        api.admin("PUT", f"/tenants/{tenant}/login", creds["login"])
    try:
        api.token = api.admin("POST", f"/tenants/{tenant}/access-tokens", {})["access_token"]
        counts = _load_vendor_data(api, section)
    finally:
        if api.token:
            api.admin("POST", f"/tenants/{tenant}/oauth/expire", {"access_token": api.token})
        for key in ("rate_limit_per_minute", "rate_limit_per_second"):
            if key in settings:
                api.admin("PUT", f"/tenants/{tenant}/settings", {key: settings[key]})
            else:
                api.admin("DELETE", f"/tenants/{tenant}/settings/{key}")

    lines = [
        f"awork {tenant}: {len(users)} users, {counts['types']} types of work, "
        f"{counts['companies']} companies, {counts['projects']} projects, "
        f"{counts['lists']} task lists, {counts['tasks']} tasks, {counts['entries']} time entries"
    ]
    keys = [k if isinstance(k, str) else k["key"] for k in creds.get("api_keys") or []]
    clients = [c.get("client_id") for c in creds.get("oauth_clients") or []]
    if keys or clients:
        lines.append(f"awork {tenant}: API keys {keys}, OAuth clients {clients}")
    return lines


def _load_vendor_data(api: _Api, section: dict[str, Any]) -> dict[str, int]:
    users = {
        u["email"].lower(): u["id"]
        for u in api.call("GET", "/users?pageSize=1000")
        for u in [_with_email(u)]
        if u["email"]
    }
    types = {t["name"].lower(): t["id"] for t in api.call("GET", "/typeofwork?showArchived=true&pageSize=1000")}
    for item in section.get("types_of_work") or []:
        name = _name(item)
        if name.lower() not in types:
            body = (
                {"name": name}
                if isinstance(item, str)
                else {"name": name, "description": item.get("description"), "icon": item.get("icon")}
            )
            types[name.lower()] = api.call("POST", "/typeofwork", body)["id"]

    companies = {c["name"].lower(): c["id"] for c in api.call("GET", "/companies?pageSize=1000")}
    for item in section.get("companies") or []:
        name = _name(item)
        if name.lower() not in companies:
            body = (
                {"name": name}
                if isinstance(item, str)
                else {"name": name, "description": item.get("description"), "industry": item.get("industry")}
            )
            companies[name.lower()] = api.call("POST", "/companies", body)["id"]

    def type_id(name: Any) -> str | None:
        if name is None:
            return None
        try:
            return types[str(name).lower()]
        except KeyError:
            raise SeedError(f"unknown type of work {name!r}") from None

    projects: dict[str, dict[str, Any]] = {}
    n_lists = n_tasks = 0
    for item in section.get("projects") or []:
        company = item.get("company")
        if company is not None and str(company).lower() not in companies:
            raise SeedError(f"project {item['name']!r}: unknown company {company!r}")
        body: dict[str, Any] = {
            "name": item["name"],
            "companyId": companies.get(str(company).lower()) if company else None,
            "description": item.get("description"),
            "isBillableByDefault": bool(_first(item, "billable", "is_billable_by_default", default=True)),
        }
        key = _first(item, "key", "project_key", "number")
        if key is not None:
            body["projectKey"] = str(key)
        project = api.call("POST", "/projects", body)
        pid = project["id"]
        lists: dict[str, str] = {}
        for tl in item.get("task_lists") or []:
            lists[_name(tl)] = api.call("POST", f"/projects/{pid}/tasklists", {"name": _name(tl)})["id"]
            n_lists += 1
        tasks: dict[str, dict[str, Any]] = {}
        for task in item.get("tasks") or []:
            names = task.get("lists") or ([task["list"]] if task.get("list") else [])
            missing = [n for n in names if n not in lists]
            if missing:
                raise SeedError(f"task {task['name']!r}: unknown task lists {missing}")
            tbody: dict[str, Any] = {
                "name": task["name"],
                "baseType": "projecttask",
                "entityId": pid,
                "description": task.get("description"),
                "plannedDuration": _seconds(task, seconds_key="planned_duration", hours_key="planned_hours"),
                "typeOfWorkId": type_id(task.get("type_of_work")),
                "lists": [{"id": lists[n]} for n in names],
            }
            created = api.call("POST", "/tasks", tbody)
            tasks[task["name"]] = created
            n_tasks += 1
            assignees = [users[e.lower()] for e in task.get("assignees") or []]
            if assignees:
                api.call("POST", f"/tasks/{created['id']}/setassignees", assignees)
        projects[item["name"]] = {"id": pid, "tasks": tasks, "billable": body["isBillableByDefault"]}

    forms = [_entry_form(e, section, users, projects, type_id) for e in section.get("time_entries") or []]
    forms += _generated_forms(section.get("generate_time_entries"), section, users, projects)
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        list(pool.map(lambda form: api.call("POST", "/timeentries", form), forms))
    return {
        "types": len(types),
        "companies": len(companies),
        "projects": len(projects),
        "lists": n_lists,
        "tasks": n_tasks,
        "entries": len(forms),
    }


def _with_email(user: dict[str, Any]) -> dict[str, Any]:
    emails = [c["value"] for c in user.get("userContactInfos") or [] if c.get("type") == "email"]
    return {"id": user["id"], "email": emails[0] if emails else None}


def _entry_form(
    item: dict[str, Any],
    section: dict[str, Any],
    users: dict[str, str],
    projects: dict[str, dict[str, Any]],
    type_id: Any,
) -> dict[str, Any]:
    email = str(item["user"]).lower()
    if email not in users:
        raise SeedError(f"time entry: unknown user {item['user']!r}")
    project = projects.get(item["project"]) if item.get("project") else None
    if item.get("project") and project is None:
        raise SeedError(f"time entry: unknown project {item['project']!r}")
    task = None
    if item.get("task"):
        candidates = [project] if project else list(projects.values())
        found = [p["tasks"][item["task"]] for p in candidates if item["task"] in p["tasks"]]
        if len(found) != 1:
            raise SeedError(f"time entry: task {item['task']!r} not found (or ambiguous)")
        task = found[0]
    type_name = item.get("type_of_work")
    tow = type_id(type_name) if type_name else (task["typeOfWorkId"] if task else None)
    if tow is None:
        raise SeedError("time entry: give type_of_work (or a task)")
    duration = _seconds(item, seconds_key="duration", hours_key="hours")
    if duration is None:
        raise SeedError("time entry: give duration, hours or minutes")
    form: dict[str, Any] = {
        "userId": users[email],
        "typeOfWorkId": tow,
        "projectId": project["id"] if project else (task["projectId"] if task else None),
        "taskId": task["id"] if task else None,
        "timezone": item.get("timezone") or section.get("timezone") or DEFAULT_TIMEZONE,
        "startDateLocal": f"{_as_date(item['date']).isoformat()}T00:00:00",
        "duration": duration,
        "note": item.get("note"),
        "isBilled": bool(_first(item, "billed", "is_billed", default=False)),
    }
    if item.get("start") is not None:
        form["startTimeLocal"] = _as_time(item["start"])
    billable = _first(item, "billable", "is_billable")
    if billable is not None:
        form["isBillable"] = bool(billable)
    return form


def _generated_forms(
    spec: dict[str, Any] | None,
    section: dict[str, Any],
    users: dict[str, str],
    projects: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Demo volume: ``per_day`` entries per user and weekday in [from, to], deterministic by ``seed``."""
    if not spec:
        return []
    rng = random.Random(spec.get("seed", 1))
    start, end = _as_date(spec["from"]), _as_date(spec["to"])
    per_day = int(spec.get("per_day", 3))
    billed_until = _as_date(spec["billed_until"]) if spec.get("billed_until") else None
    emails: Iterable[str] = [e.lower() for e in spec.get("users") or []] or sorted(users)
    targets = [(p, t) for p in projects.values() for t in p["tasks"].values()]
    if not targets:
        raise SeedError("generate_time_entries needs projects with tasks")
    timezone = spec.get("timezone") or section.get("timezone") or DEFAULT_TIMEZONE
    forms = []
    for email in emails:
        if email not in users:
            raise SeedError(f"generate_time_entries: unknown user {email!r}")
        day = start
        while day <= end:
            if day.weekday() < 5:
                minute = 8 * 60 + rng.choice((0, 15, 30))
                for _ in range(per_day):
                    project, task = rng.choice(targets)
                    duration = rng.choice((30, 45, 60, 90, 120, 150, 180)) * 60
                    forms.append(
                        {
                            "userId": users[email],
                            "typeOfWorkId": task["typeOfWorkId"],
                            "projectId": project["id"],
                            "taskId": task["id"],
                            "timezone": timezone,
                            "startDateLocal": f"{day.isoformat()}T00:00:00",
                            "startTimeLocal": f"{minute // 60:02d}:{minute % 60:02d}:00",
                            "duration": duration,
                            "note": rng.choice(_NOTES),
                            "isBilled": billed_until is not None and day <= billed_until,
                        }
                    )
                    minute += duration // 60 + rng.choice((0, 15, 30))
            day += timedelta(days=1)
    return forms

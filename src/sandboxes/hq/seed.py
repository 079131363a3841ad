"""Load one tenant's ``hq:`` scenario section into a running HQ sandbox, over HTTP.

Master data goes through the admin endpoints (``/_sandbox/...``); everything HQ's API can create
(companies, projects, members, custom-field values, tasks, quotations, absences, reportings) goes
through the vendor endpoints with the tenant's sync token. Records refer to each other by natural
keys (e-mail, name); ids are assigned by the server. The format is documented in
docs/sandbox/hq.md.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

import requests

PARALLEL_THRESHOLD = 200  # reportings above this count are posted from several threads
WORKERS = 8


class SeedError(RuntimeError):
    """A scenario section could not be loaded; the message names the record."""


class _Client:
    """A small HTTP client for one tenant: admin calls and vendor calls with the sync token."""

    def __init__(self, base_url: str, tenant: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.tenant = tenant
        self.token = token
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def call(self, method: str, path: str, body: Any = None, *, vendor: bool = True, what: str = "") -> Any:
        """Sends one request; returns the JSON answer. Retries 429 answers; raises SeedError."""
        headers = {"Authorization": f"Bearer {self.token}"} if vendor else {}
        for attempt in range(6):
            resp = self.session.request(method, self.base_url + path, json=body, headers=headers, timeout=60)
            if resp.status_code == 429 and attempt < 5:
                time.sleep(min(float(resp.headers.get("Retry-After", "1")), 5.0))
                continue
            if resp.status_code >= 400:
                raise SeedError(f"hq {self.tenant}: {what or path}: {method} {path} -> {resp.status_code}: {resp.text}")
            return resp.json() if resp.content else None
        raise SeedError(f"hq {self.tenant}: {what or path}: rate limited")

    def admin(self, path: str, body: Any, what: str = "") -> Any:
        return self.call("POST", f"/_sandbox/tenants/{self.tenant}{path}", body, vendor=False, what=what)


def _text(value: Any) -> Any:
    """YAML turns dates into date/datetime objects: back to ISO strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _day(value: Any) -> str | None:
    """A date (or date-time) as HQ's local ``...T00:00:00`` value."""
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return f"{value.isoformat()}T00:00:00"
    return str(_text(value))


def _named(items: list[Any] | None, key: str = "name") -> list[dict[str, Any]]:
    """Lets a list contain plain names as shorthand for ``{name: ...}``."""
    return [{key: item} if isinstance(item, str) else dict(item) for item in items or []]


def _split_name(user: dict[str, Any]) -> tuple[str, str]:
    if "first_name" in user or "last_name" in user:
        return user.get("first_name", ""), user.get("last_name", "")
    first, _, last = str(user.get("name", "")).partition(" ")
    return first, last


def seed_tenant(base_url: str, tenant: str, section: dict[str, Any]) -> list[str]:
    """Loads the ``hq:`` section of one tenant; returns human-readable summary lines.

    Raises SeedError naming the record that failed.
    """
    section = section or {}
    sync_token = section.get("sync_token") or f"hq-{tenant}-sync"
    client = _Client(base_url, tenant, sync_token)
    client.call(
        "POST",
        "/_sandbox/tenants",
        {
            "tenant": tenant,
            "sync_token": sync_token,
            "user_tokens": section.get("user_tokens") or {},
            "personio_sync": bool(section.get("personio_sync", False)),
            "settings": section.get("settings") or {},
        },
        vendor=False,
        what="tenant registration",
    )

    ids: dict[str, dict[str, int]] = {
        k: {}
        for k in ("task_types", "roles", "statuses", "templates", "fields", "users", "companies", "projects", "rules")
    }

    # -- master data (admin) -----------------------------------------------------------------
    for tt in _named(section.get("task_types")):
        body: dict[str, Any] = {"Name": tt["name"]}
        if "default" in tt:
            body["IsDefault"] = bool(tt["default"])
        if tt.get("statuses"):
            body["statuses"] = [
                {"Name": s["name"], "IsFinishedState": bool(s.get("finished", False))} for s in _named(tt["statuses"])
            ]
        ids["task_types"][tt["name"]] = client.admin("/task-types", body, f"task type {tt['name']!r}")["Id"]
    for role in _named(section.get("project_roles")):
        rec = client.admin(
            "/project-roles",
            {"Name": role["name"], "IsRequired": bool(role.get("required", False))},
            f"role {role['name']!r}",
        )
        ids["roles"][role["name"]] = rec["Id"]
    for status in _named(section.get("project_statuses")):
        rec = client.admin(
            "/project-statuses",
            {"Name": status["name"], "IsInProgress": bool(status.get("in_progress", True))},
            f"status {status['name']!r}",
        )
        ids["statuses"][status["name"]] = rec["Id"]
    for tpl in _named(section.get("project_templates")):
        body = {
            "Name": tpl["name"],
            "IsInternal": bool(tpl.get("internal", False)),
            "statuses": tpl.get("statuses") or list(ids["statuses"]),
            "number_schema": tpl.get("number_schema"),
            "phases": tpl.get("phases") or [],
        }
        ids["templates"][tpl["name"]] = client.admin("/project-templates", body, f"template {tpl['name']!r}")["Id"]
    company_types = _named(section.get("company_types"))
    if company_types:
        client.admin("/company-types", [{"Name": ct["name"]} for ct in company_types], "company types")
    for cf in _named(section.get("custom_fields")):
        rec = client.admin(
            "/custom-field-definitions",
            {
                "Name": cf["name"],
                "Type": cf.get("type", "Text"),
                "Category": cf.get("category", "Project"),
                "Options": cf.get("options") or [],
                "IsRequired": bool(cf.get("required", False)),
            },
            f"custom field {cf['name']!r}",
        )
        ids["fields"][f"{rec['Category']}:{cf['name']}"] = rec["Id"]
    for rule in _named(section.get("rate_rules")):
        body = {
            "name": rule["name"],
            "currency": rule.get("currency", "EUR"),
            "default_external": rule.get("external"),
            "default_internal": rule.get("internal"),
            "roles": rule.get("roles"),
            "task_types": rule.get("task_types"),
            "role_task_types": rule.get("role_task_types"),
        }
        ids["rules"][rule["name"]] = client.admin("/rate-rules", body, f"rate rule {rule['name']!r}")["Id"]
    users = []
    for user in section.get("users") or []:
        first, last = _split_name(user)
        body = {"FirstName": first, "LastName": last, "EMailWork": user["email"]}
        for key, field in (
            ("department", "Department"),
            ("employee_number", "EmployeeNumber"),
            ("federal_state", "FederalState"),
            ("country", "Country"),
        ):
            if key in user:
                body[field] = str(user[key])
        for key, field in (("entry_date", "EntryDate"), ("leaving_date", "LeavingDate")):
            if user.get(key) is not None:
                body[field] = _day(user[key])
        if "hours_per_week" in user:
            body["BasicLoadInHours"] = float(user["hours_per_week"])
        if user.get("rate_rule"):
            body["rate_rule"] = user["rate_rule"]
        if user.get("deactivated"):
            body["deactivated"] = True
        users.append(body)
    if users:
        for rec in client.admin("/users", users, "users"):
            ids["users"][rec["EMailWork"].lower()] = rec["Id"]

    def ref(table: str, name: Any, what: str) -> int:
        try:
            return ids[table][name]
        except KeyError:
            label = {"statuses": "project status", "roles": "project role", "rules": "rate rule"}.get(table, table[:-1])
            raise SeedError(f"hq {tenant}: {what}: unknown {label} {name!r}") from None

    def user_id(email: str, what: str) -> int:
        try:
            return ids["users"][email.lower()]
        except KeyError:
            raise SeedError(f"hq {tenant}: {what}: unknown user e-mail {email!r}") from None

    def field_id(category: str, name: str, what: str) -> int:
        try:
            return ids["fields"][f"{category}:{name}"]
        except KeyError:
            raise SeedError(f"hq {tenant}: {what}: unknown {category} custom field {name!r}") from None

    def set_fields(set_name: str, category: str, entity_id: int, values: dict[str, Any] | None, what: str) -> None:
        for name, value in (values or {}).items():
            client.call(
                "PUT",
                f"/v1/{set_name}({entity_id})/CustomFields({field_id(category, name, what)})",
                {"Value": _text(value)},
                what=f"{what} custom field {name!r}",
            )

    # -- companies (vendor API) --------------------------------------------------------------
    for company in _named(section.get("companies")):
        what = f"company {company['name']!r}"
        body = {"Name": company["name"]}
        for key, field in (("debitor_number", "DebitorNumber"), ("creditor_number", "CreditorNumber")):
            if key in company:
                body[field] = int(company[key])
        if company.get("tax_id") is not None:
            body["TaxId"] = str(company["tax_id"])
        if company.get("types"):
            body["CompanyTypes"] = [{"Name": t} for t in company["types"]]
        if company.get("address"):
            addr = company["address"]
            # YAML reads 20457 as a number: every address field is a string in HQ.
            body["DefaultAddress"] = {
                field: str(addr[key])
                for key, field in (
                    ("street", "Street"),
                    ("house_number", "HouseNumber"),
                    ("zip_code", "ZipCode"),
                    ("city", "City"),
                    ("country", "Country"),
                )
                if addr.get(key) is not None
            }
            body["DefaultAddress"].setdefault("Country", "DE")
        rec = client.call("POST", "/v1/Companies", body, what=what)
        ids["companies"][company["name"]] = rec["Id"]
        if company.get("rate_rule"):
            client.call(
                "PUT",
                f"/_sandbox/tenants/{tenant}/companies/{rec['Id']}/rate-rule",
                {"rule": company["rate_rule"]},
                vendor=False,
                what=f"{what} rate rule",
            )
        set_fields("Companies", "Company", rec["Id"], company.get("custom_fields"), what)

    # -- projects, members, custom fields, phases and tasks ----------------------------------
    tasks: dict[tuple[str, str], int] = {}  # (project, "Phase/Task" or "Task") -> id
    task_count = 0
    for project in section.get("projects") or []:
        what = f"project {project['name']!r}"
        template = project.get("template") or next(iter(ids["templates"]), None)
        if template not in ids["templates"]:
            raise SeedError(f"hq {tenant}: {what}: unknown project template {template!r}")
        body = {"ProjectTemplateId": ids["templates"][template], "Name": project["name"]}
        if project.get("company"):
            if project["company"] not in ids["companies"]:
                raise SeedError(f"hq {tenant}: {what}: unknown company {project['company']!r}")
            body["CompanyId"] = ids["companies"][project["company"]]
        if project.get("responsible"):
            body["ResponsibleUserId"] = user_id(project["responsible"], what)
        if project.get("number") is not None:
            body["Number"] = str(project["number"])
        if project.get("status"):
            body["ProjectStatusId"] = ref("statuses", project["status"], what)
        for key, field in (("start", "StartDate"), ("end", "EndDate")):
            if project.get(key) is not None:
                body[field] = _day(project[key])
        answer = client.call("POST", "/v1/Projects/do.Create", body, what=what)
        rec = answer[0] if isinstance(answer, list) else answer
        pid = rec["Id"]
        ids["projects"][project["name"]] = pid
        for member in project.get("members") or []:
            mbody: dict[str, Any] = {
                "UserId": user_id(member["email"], what),
                "ProjectRoleId": ref("roles", member["role"], what),
            }
            if member.get("rate") is not None:
                mbody["ExternalChargeRateValue"] = float(member["rate"])
                mbody["ExternalChargeRateCurrency"] = member.get("currency", "EUR")
            if member.get("rate_rule"):
                mbody["ExternalChargeRateId"] = ref("rules", member["rate_rule"], what)
            client.call("POST", f"/v1/Projects({pid})/do.AddMember", mbody, what=f"{what} member {member['email']!r}")
        set_fields("Projects", "Project", pid, project.get("custom_fields"), what)
        for order, phase in enumerate(_named(project.get("phases")), start=1):
            phase_id = _post_task(client, pid, phase, None, order, ids, f"{what} phase {phase['name']!r}")
            tasks[(project["name"], phase["name"])] = phase_id
            task_count += 1
            for sub_order, task in enumerate(_named(phase.get("tasks")), start=1):
                tid = _post_task(client, pid, task, phase_id, sub_order, ids, f"{what} task {task['name']!r}")
                tasks[(project["name"], f"{phase['name']}/{task['name']}")] = tid
                tasks.setdefault((project["name"], task["name"]), tid)
                task_count += 1

    # -- quotations --------------------------------------------------------------------------
    quotation_count = 0
    for quotation in section.get("quotations") or []:
        what = f"quotation {quotation.get('subject') or quotation.get('sync_id')!r}"
        body = {
            "Subject": quotation.get("subject"),
            "SyncId": quotation.get("sync_id"),
            "Status": quotation.get("status", "Draft"),
        }
        if quotation.get("project"):
            body["ProjectId"] = ref("projects", quotation["project"], what)
        company = quotation.get("company") or next(
            (p.get("company") for p in section.get("projects") or [] if p["name"] == quotation.get("project")), None
        )
        if company is None or company not in ids["companies"]:
            raise SeedError(f"hq {tenant}: {what}: needs a known company (directly or through its project)")
        body["CompanyId"] = ids["companies"][company]
        for key, field in (("date", "QuotationDate"), ("valid_until", "ValidUntilDate")):
            if quotation.get(key) is not None:
                body[field] = _day(quotation[key])
        positions = []
        for pos in _named(quotation.get("positions"), "text"):
            item: dict[str, Any] = {"Type": pos.get("type", "Freetext"), "Text": pos.get("text")}
            for key, field in (
                ("amount", "Amount"),
                ("unit", "Unit"),
                ("price", "Price"),
                ("tax", "Tax"),
                ("discount", "Discount"),
                ("optional", "IsOptional"),
            ):
                if key in pos:
                    item[field] = pos[key]
            positions.append(item)
        body["Positions"] = positions
        client.call("POST", "/v1/Quotations", body, what=what)
        quotation_count += 1

    # -- absences ----------------------------------------------------------------------------
    absence_count = 0
    for absence in section.get("absences") or []:
        what = f"absence of {absence['email']!r} from {absence.get('start')}"
        uid = user_id(absence["email"], what)
        body = {
            "UserId": uid,
            "Type": absence["type"],
            "Start": _day(absence["start"]),
            "End": _day(absence["end"]),
            "Note": absence.get("note"),
            "IsApproved": bool(absence.get("approved", True)),
        }
        client.call("POST", f"/v1/Users({uid})/Absences", body, what=what)
        absence_count += 1

    # -- reportings --------------------------------------------------------------------------
    reportings = section.get("reportings") or []

    def post_reporting(item: dict[str, Any]) -> tuple[int, bool]:
        what = f"reporting of {item['email']!r} at {item.get('start')}"
        if item["project"] not in ids["projects"]:
            raise SeedError(f"hq {tenant}: {what}: unknown project {item['project']!r}")
        pid = ids["projects"][item["project"]]
        duration = item.get("duration")
        if duration is None:
            duration = round(float(item["hours"]) * 3600)
        body: dict[str, Any] = {
            "UserId": user_id(item["email"], what),
            "StartDate": _text(item["start"]),
            "Duration": duration,
            "IsApproved": bool(item.get("approved", False)),
        }
        if item.get("note") is not None:
            body["Description"] = item["note"]
        if item.get("task"):
            key = (item["project"], item["task"])
            if key not in tasks:
                raise SeedError(f"hq {tenant}: {what}: unknown task {item['task']!r} in {item['project']!r}")
            body["TaskId"] = tasks[key]
        rec = client.call("POST", f"/v1/Projects({pid})/do.CreateReporting", body, what=what)
        return rec["Id"], bool(item.get("billed"))

    if len(reportings) > PARALLEL_THRESHOLD:
        with ThreadPoolExecutor(WORKERS) as pool:
            created = list(pool.map(post_reporting, reportings))
    else:
        created = [post_reporting(item) for item in reportings]
    billed = [rid for rid, is_billed in created if is_billed]
    if billed:
        client.admin("/invoices", {"reporting_ids": billed}, "invoice for billed reportings")

    summary = (
        f"hq {tenant}: {len(ids['users'])} users, {len(ids['companies'])} companies, "
        f"{len(ids['projects'])} projects, {task_count} tasks, {quotation_count} quotations, "
        f"{absence_count} absences, {len(created)} reportings ({len(billed)} billed)"
    )
    return [summary]


def _post_task(
    client: _Client,
    project_id: int,
    task: dict[str, Any],
    parent_id: int | None,
    order: int,
    ids: dict[str, dict[str, int]],
    what: str,
) -> int:
    body: dict[str, Any] = {"Name": task["name"], "ProjectId": project_id, "ParentId": parent_id, "Order": order}
    if task.get("task_type"):
        if task["task_type"] not in ids["task_types"]:
            raise SeedError(f"hq {client.tenant}: {what}: unknown task type {task['task_type']!r}")
        body["TaskTypeId"] = ids["task_types"][task["task_type"]]
    if task.get("planned_hours") is not None:
        body["PlannedEffort"] = float(task["planned_hours"])
    if task.get("sync_id") is not None:
        body["SyncId"] = str(task["sync_id"])
    if task.get("done"):
        body["IsDone"] = True
    return int(client.call("POST", "/v1/ProjectTasks", body, what=what)["Id"])

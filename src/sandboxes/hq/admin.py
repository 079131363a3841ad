"""Admin endpoints under ``/_sandbox/`` for what HQ's API cannot create: tenants and tokens, users,
task types, project roles/statuses/templates, custom-field definitions, company types, charge-rate
rules ("Verrechnungssätze") and their assignment, the tenant switches, and invoices that bill
reportings. Never part of the vendor surface.

Bodies use HQ's property names for HQ entities (``FirstName``, ``EMailWork``, ...) and snake_case
for sandbox-only things (``rate_rule``, ``statuses``, ``number_schema``). Creates are upserts by the
natural key (e-mail, name), so a scenario can be loaded twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from sandboxes.hq import fields as F
from sandboxes.hq.absences import check_type, missed_days
from sandboxes.hq.absences import period as absence_period
from sandboxes.hq.data import HQState, TenantData
from sandboxes.hq.documents import recompute
from sandboxes.hq.errors import bad_request, not_found
from sandboxes.hq.model import CUSTOM_FIELD_CATEGORIES, CUSTOM_FIELD_TYPES, INVOICE_STATUSES, Record, blank, entity
from sandboxes.hq.rates import RATE_RULES
from sandboxes.hq.routes_core import USER_WRITABLE

ADMIN_ACTOR = 0
# UpdatedBy of a drift injection without ``?as=<e-mail>``: "someone in HQ", neither the sync nor a user.
DRIFT_ACTOR = -1
# What a drift injection may change (anything a person or another tool could change in HQ).
DRIFT_FIELDS = {
    "UserReportings": {"Duration", "StartOn", "Note", "TaskId", "BreakDuration", "IsApproved", "UserId", "ProjectId"},
    "UserAbsences": {"Type", "Start", "End", "Note", "IsApproved"},
}
DEFAULT_TASK_TYPE = "Standard"
DEFAULT_STATUSES = [{"Name": "Offen", "IsFinishedState": False}, {"Name": "Erledigt", "IsFinishedState": True}]


def _items(body: Any) -> list[dict[str, Any]]:
    items = body if isinstance(body, list) else [body]
    if not all(isinstance(i, dict) for i in items):
        raise bad_request("expected a JSON object or a list of objects")
    return items


def _answer(results: list[Record], body: Any, status: int = 201) -> JSONResponse:
    return JSONResponse(results if isinstance(body, list) else results[0], status_code=status)


def lookup(data: TenantData, kind: str, value: Any, what: str, field: str = "Name") -> Record:
    """Returns a record by Id (int) or natural key (string); 400 when there is none."""
    if isinstance(value, int) and not isinstance(value, bool):
        rec = data.by_id(kind).get(value)
    else:
        rec = data.find(kind, field, value, casefold=field == "EMailWork")
    if rec is None:
        raise bad_request(f"unknown {what} {value!r}")
    return rec


def _upsert(data: TenantData, kind: str, key_field: str, key: Any, build: Any) -> Record:
    """Creates or updates the record of ``kind`` whose ``key_field`` equals ``key``."""
    existing = data.find(kind, key_field, key, casefold=key_field == "EMailWork")
    rec = dict(existing) if existing else blank(entity_of(kind))
    build(rec)
    if existing:
        return data.save(kind, rec, ADMIN_ACTOR)
    return data.insert(kind, rec, ADMIN_ACTOR)


def entity_of(kind: str) -> Any:
    return entity(
        {
            "Users": "User",
            "TaskTypes": "TaskType",
            "ProjectRoles": "ProjectRole",
            "ProjectStatuses": "ProjectStatus",
            "ProjectTemplates": "ProjectTemplate",
            "CustomFieldDefinitions": "CustomFieldDefinition",
            "CompanyTypes": "CompanyType",
            "TaskTypeStatuses": "TaskTypeStatus",
        }[kind]
    )


def public(rec: Record) -> Record:
    """Returns a record without its ``_`` internals (what the admin answers for HQ entities)."""
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def ensure_default_task_type(data: TenantData) -> None:
    """Every tenant has HQ's default task type "Standard" (it must exist on every template)."""
    if not any(t.get("IsDefault") for t in data.records("TaskTypes")):
        upsert_task_type(data, {"Name": DEFAULT_TASK_TYPE, "IsDefault": True})


def upsert_task_type(data: TenantData, item: dict[str, Any]) -> Record:
    """Creates or updates a task type (with its statuses); returns it."""
    F.require(item, "Name")
    existing_type = data.find("TaskTypes", "Name", item["Name"])
    is_default = F.as_bool("IsDefault", item.get("IsDefault"))
    if is_default is None:  # not given: keep what the type was ("Standard" stays the default)
        is_default = bool(existing_type and existing_type.get("IsDefault"))
    if is_default:
        for other in data.records("TaskTypes"):
            if other.get("IsDefault") and other["Name"] != item["Name"]:
                data.save("TaskTypes", {**other, "IsDefault": False}, ADMIN_ACTOR)

    def build(rec: Record) -> None:
        rec["Name"] = item["Name"]
        rec["IsDefault"] = is_default

    rec = _upsert(data, "TaskTypes", "Name", item["Name"], build)
    statuses = item.get("statuses")
    existing = data.index("TaskTypeStatuses", "TaskTypeId").get(rec["Id"], [])
    if statuses is None and existing:
        return rec
    for status in statuses or DEFAULT_STATUSES:
        status = {"Name": status} if isinstance(status, str) else status
        F.require(status, "Name")
        found = next((s for s in existing if s["Name"] == status["Name"]), None)
        srec = dict(found) if found else blank(entity("TaskTypeStatus"))
        srec.update(
            {
                "Name": status["Name"],
                "TaskTypeId": rec["Id"],
                "IsFinishedState": F.as_bool("IsFinishedState", status.get("IsFinishedState")) or False,
            }
        )
        if found:
            data.save("TaskTypeStatuses", srec, ADMIN_ACTOR)
        else:
            data.insert("TaskTypeStatuses", srec, ADMIN_ACTOR)
    return rec


def _rule_entries(data: TenantData, entries: Any, what: str) -> list[dict[str, Any]]:
    """Normalises role / task-type / (role, task type) rate entries to ids."""
    if entries is None:
        return []
    if isinstance(entries, dict):  # {"Name": {"external": .., "internal": ..}}
        entries = [{what: name, **(rates or {})} for name, rates in entries.items()]
    out = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise bad_request("rate entries must be objects")
        item: dict[str, Any] = {
            "external": F.as_float("external", entry.get("external")),
            "internal": F.as_float("internal", entry.get("internal")),
        }
        if "role" in entry or "role_id" in entry:
            item["role_id"] = lookup(data, "ProjectRoles", entry.get("role_id", entry.get("role")), "project role")[
                "Id"
            ]
        if "task_type" in entry or "task_type_id" in entry:
            item["task_type_id"] = lookup(
                data, "TaskTypes", entry.get("task_type_id", entry.get("task_type")), "task type"
            )["Id"]
        out.append(item)
    return out


def register(router: APIRouter, state: HQState) -> None:
    """Adds the admin routes to ``router`` (prefix ``/_sandbox``)."""

    def tenant_data(tenant: str) -> TenantData:
        return state.data(state.registry.require(tenant))

    @router.post("/tenants")
    def register_tenant(body: dict[str, Any] = Body(...)) -> JSONResponse:
        """Registers (or replaces) a tenant: ``{tenant, sync_token, user_tokens, personio_sync, settings}``."""
        with state.write_lock:
            tenant, is_new = state.registry.register(body)
            ensure_default_task_type(state.data(tenant))
        return JSONResponse(tenant.as_dict(), status_code=201 if is_new else 200)

    @router.get("/tenants")
    def list_tenants() -> dict[str, Any]:
        return {"tenants": [t.as_dict() for t in state.registry.all()]}

    @router.get("/tenants/{tenant}")
    def get_tenant(tenant: str) -> dict[str, Any]:
        return state.registry.require(tenant).as_dict()

    @router.put("/tenants/{tenant}/settings")
    def put_settings(tenant: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Changes some switches (``personio_sync`` included); answers the tenant."""
        with state.write_lock:
            return state.registry.update_settings(tenant, body).as_dict()

    @router.post("/tenants/{tenant}/oauth-clients", status_code=201)
    def register_oauth_client(tenant: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """An OAuth app ``{app_id, app_secret, redirect_uris, user}`` (``user``: who approves)."""
        return state.oauth.register_client(tenant, body)

    @router.post("/tenants/{tenant}/oauth/expire")
    def expire_oauth_tokens(tenant: str) -> dict[str, Any]:
        """Every access token of the tenant expires now (the next request answers 401)."""
        state.registry.require(tenant)
        return {"expired": state.oauth.expire(tenant)}

    @router.post("/tenants/{tenant}/oauth/revoke")
    def revoke_oauth_grants(tenant: str) -> dict[str, Any]:
        """Every grant of the tenant is revoked (refresh → invalid_grant, access → 401)."""
        state.registry.require(tenant)
        return {"revoked": state.oauth.revoke(tenant)}

    @router.get("/settings")
    def get_default_settings() -> dict[str, Any]:
        return state.registry.defaults()

    @router.put("/settings")
    def put_default_settings(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Switches for tenants registered from now on (their own ``settings`` still win)."""
        return state.registry.update_defaults(body)

    @router.post("/tenants/{tenant}/user-tokens")
    def add_user_tokens(tenant: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Adds user tokens: ``{"anna@acme.example": "token"}``."""
        with state.write_lock:
            return state.registry.add_user_tokens(tenant, body).as_dict()

    @router.post("/tenants/{tenant}/users")
    def upsert_users(tenant: str, body: Any = Body(...)) -> JSONResponse:
        """Creates or updates users by ``EMailWork``; extras: ``deactivated``, ``rate_rule``."""
        results = []
        with state.write_lock:
            data = tenant_data(tenant)
            for item in _items(body):
                F.require(item, "EMailWork")
                extras = {"deactivated", "rate_rule", "rate_rule_id"}
                F.check_known({k: v for k, v in item.items() if k not in extras}, entity("User"))
                rule = item.get("rate_rule_id", item.get("rate_rule"))
                rule_id = lookup(data, RATE_RULES, rule, "rate rule", "name")["Id"] if rule is not None else None

                def build(rec: Record, item: dict[str, Any] = item, rule_id: Any = rule_id) -> None:
                    F.apply(rec, item, USER_WRITABLE, replace=False)
                    rec["UserName"] = rec.get("UserName") or item["EMailWork"].split("@")[0]
                    rec["_deactivated"] = bool(item.get("deactivated", rec.get("_deactivated", False)))
                    if "rate_rule" in item or "rate_rule_id" in item:
                        rec["_rate_rule_id"] = rule_id

                results.append(public(_upsert(data, "Users", "EMailWork", item["EMailWork"], build)))
        return _answer(results, body)

    @router.post("/tenants/{tenant}/task-types")
    def upsert_task_types(tenant: str, body: Any = Body(...)) -> JSONResponse:
        """Task types by ``Name``: ``{Name, IsDefault, statuses: [{Name, IsFinishedState}]}``."""
        with state.write_lock:
            data = tenant_data(tenant)
            results = []
            for item in _items(body):
                rec = upsert_task_type(data, item)
                out = public(rec)
                out["statuses"] = [public(s) for s in data.index("TaskTypeStatuses", "TaskTypeId").get(rec["Id"], [])]
                results.append(out)
        return _answer(results, body)

    def simple_upsert(tenant: str, body: Any, kind: str, converters: dict[str, Any]) -> JSONResponse:
        with state.write_lock:
            data = tenant_data(tenant)
            results = []
            for item in _items(body):
                F.require(item, "Name")
                results.append(
                    public(
                        _upsert(
                            data,
                            kind,
                            "Name",
                            item["Name"],
                            lambda rec, item=item: F.apply(rec, item, converters, replace=False),
                        )
                    )
                )
        return _answer(results, body)

    @router.post("/tenants/{tenant}/project-roles")
    def upsert_roles(tenant: str, body: Any = Body(...)) -> JSONResponse:
        """Project roles by ``Name``: ``{Name, IsRequired}``."""
        return simple_upsert(tenant, body, "ProjectRoles", {"Name": F.as_str, "IsRequired": F.as_bool})

    @router.post("/tenants/{tenant}/project-statuses")
    def upsert_statuses(tenant: str, body: Any = Body(...)) -> JSONResponse:
        """Project statuses by ``Name``: ``{Name, IsInProgress}``."""
        return simple_upsert(tenant, body, "ProjectStatuses", {"Name": F.as_str, "IsInProgress": F.as_bool})

    @router.post("/tenants/{tenant}/company-types")
    def upsert_company_types(tenant: str, body: Any = Body(...)) -> JSONResponse:
        """Company types by ``Name`` (e.g. "Kunde")."""
        return simple_upsert(tenant, body, "CompanyTypes", {"Name": F.as_str})

    @router.post("/tenants/{tenant}/project-templates")
    def upsert_templates(tenant: str, body: Any = Body(...)) -> JSONResponse:
        """Templates by ``Name``: ``{Name, IsInternal, statuses: [names], number_schema, phases}``.

        ``number_schema`` (e.g. ``"P{year}-{seq:03d}"``) makes HQ ignore a supplied project number;
        ``phases`` are top-level tasks every new project of the template starts with.
        """
        with state.write_lock:
            data = tenant_data(tenant)
            results = []
            for item in _items(body):
                F.require(item, "Name")
                status_ids = [
                    lookup(data, "ProjectStatuses", s, "project status")["Id"] for s in item.get("statuses") or []
                ]
                schema = item.get("number_schema")
                if schema is not None:
                    try:
                        schema.format(seq=1, year=2025)
                    except (KeyError, ValueError, IndexError, AttributeError):
                        raise bad_request("number_schema may use only {seq} and {year}") from None

                def build(
                    rec: Record, item: dict[str, Any] = item, status_ids: Any = status_ids, schema: Any = schema
                ) -> None:
                    rec["Name"] = item["Name"]
                    rec["IsInternal"] = F.as_bool("IsInternal", item.get("IsInternal")) or False
                    rec["_status_ids"] = status_ids
                    rec["_number_schema"] = schema
                    rec["_phases"] = [str(p) for p in item.get("phases") or []]

                rec = _upsert(data, "ProjectTemplates", "Name", item["Name"], build)
                results.append({**public(rec), "status_ids": status_ids, "number_schema": schema})
        return _answer(results, body)

    @router.post("/tenants/{tenant}/custom-field-definitions")
    def upsert_definitions(tenant: str, body: Any = Body(...)) -> JSONResponse:
        """Definitions by (``Name``, ``Category``): ``{Name, Type, Category, IsRequired, Options}``."""
        with state.write_lock:
            data = tenant_data(tenant)
            results = []
            for item in _items(body):
                F.require(item, "Name", "Category")
                kind = item.get("TypeText", item.get("Type", "Text"))
                if kind not in CUSTOM_FIELD_TYPES:
                    raise bad_request(f"unknown custom field type {kind!r}; valid: {list(CUSTOM_FIELD_TYPES)}")
                if item["Category"] not in CUSTOM_FIELD_CATEGORIES:
                    raise bad_request(f"unknown category {item['Category']!r}; valid: {list(CUSTOM_FIELD_CATEGORIES)}")
                existing = next(
                    (
                        d
                        for d in data.records("CustomFieldDefinitions")
                        if d["Name"] == item["Name"] and d["Category"] == item["Category"]
                    ),
                    None,
                )
                rec = dict(existing) if existing else blank(entity("CustomFieldDefinition"))
                rec.update(
                    {
                        "Name": item["Name"],
                        "TypeText": kind,
                        "Category": item["Category"],
                        "Description": F.as_str("Description", item.get("Description")),
                        "IsRequired": F.as_bool("IsRequired", item.get("IsRequired")) or False,
                        "Order": F.as_int("Order", item.get("Order"))
                        or len(data.records("CustomFieldDefinitions")) + 1,
                        "RightLevelRead": 0,
                        "RightLevelWrite": 0,
                    }
                )
                options = []
                for value in item.get("Options") or []:
                    stamp = rec.get("UpdatedOn")
                    options.append(
                        {
                            "OptionValue": str(value),
                            "Id": data.new_id("CustomFieldOptions"),
                            "CreatedBy": ADMIN_ACTOR,
                            "UpdatedBy": ADMIN_ACTOR,
                            "CreatedOn": stamp,
                            "UpdatedOn": stamp,
                        }
                    )
                rec["_options"] = options
                if existing:
                    data.save("CustomFieldDefinitions", rec, ADMIN_ACTOR)
                else:
                    data.insert("CustomFieldDefinitions", rec, ADMIN_ACTOR)
                results.append(public(rec))
        return _answer(results, body)

    @router.post("/tenants/{tenant}/rate-rules")
    def upsert_rate_rules(tenant: str, body: Any = Body(...)) -> JSONResponse:
        """Charge-rate rules by ``name``; see docs/sandbox/hq.md for the shape."""
        with state.write_lock:
            data = tenant_data(tenant)
            results = []
            for item in _items(body):
                F.require(item, "name")
                rule = {
                    "name": item["name"],
                    "currency": item.get("currency") or "EUR",
                    "default_external": F.as_float("default_external", item.get("default_external")),
                    "default_internal": F.as_float("default_internal", item.get("default_internal")),
                    "roles": _rule_entries(data, item.get("roles"), "role"),
                    "task_types": _rule_entries(data, item.get("task_types"), "task_type"),
                    "role_task_types": _rule_entries(data, item.get("role_task_types"), "role"),
                }
                for entry in rule["role_task_types"]:
                    if "role_id" not in entry or "task_type_id" not in entry:
                        raise bad_request("role_task_types entries need both 'role' and 'task_type'")
                existing = data.find(RATE_RULES, "name", item["name"])
                if existing:
                    rule["Id"] = existing["Id"]
                    results.append(data.save(RATE_RULES, {**existing, **rule}, ADMIN_ACTOR))
                else:
                    results.append(data.insert(RATE_RULES, rule, ADMIN_ACTOR))
        return _answer(results, body)

    @router.get("/tenants/{tenant}/rate-rules")
    def list_rate_rules(tenant: str) -> dict[str, Any]:
        return {"rate_rules": tenant_data(tenant).records(RATE_RULES)}

    def assign_rule(tenant: str, kind: str, what: str, key: int, body: dict[str, Any]) -> dict[str, Any]:
        with state.write_lock:
            data = tenant_data(tenant)
            rec = data.get(kind, key)
            if rec is None:
                raise not_found(what, key)
            value = body.get("rule_id", body.get("rule"))
            rec["_rate_rule_id"] = (
                lookup(data, RATE_RULES, value, "rate rule", "name")["Id"] if value is not None else None
            )
            data.save(kind, rec, ADMIN_ACTOR, touch=False)
            return {"id": key, "rate_rule_id": rec["_rate_rule_id"]}

    @router.put("/tenants/{tenant}/companies/{company_id}/rate-rule")
    def assign_company_rule(tenant: str, company_id: int, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Assigns a rule to a customer: ``{"rule": "Premium"}`` (null removes it)."""
        return assign_rule(tenant, "Companies", "Company", company_id, body)

    @router.put("/tenants/{tenant}/users/{user_id}/rate-rule")
    def assign_user_rule(tenant: str, user_id: int, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Assigns a rule to a user: ``{"rule": "Standard"}`` (null removes it)."""
        return assign_rule(tenant, "Users", "User", user_id, body)

    @router.post("/tenants/{tenant}/invoices", status_code=201)
    def bill_reportings(tenant: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Creates an invoice that bills reportings: ``{"reporting_ids": [..], "Status": "Sent"}``.

        Billed reportings can no longer be changed or deleted; clients see the billing as invoice
        positions of ``Type`` "UserReporting" whose ``UserReportings`` navigation lists them.
        """
        with state.write_lock:
            data = tenant_data(tenant)
            ids = body.get("reporting_ids")
            if not isinstance(ids, list) or not ids:
                raise bad_request("'reporting_ids' (a non-empty list) is required")
            reportings = []
            for rid in ids:
                rec = data.get("UserReportings", rid)
                if rec is None:
                    raise not_found("UserReporting", rid)
                if rec.get("_billed_invoice_id") is not None:
                    raise bad_request(f"reporting {rid} is already billed by invoice {rec['_billed_invoice_id']}")
                reportings.append(rec)
            project = data.get("Projects", reportings[0]["ProjectId"]) or {}
            invoice = blank(entity("Invoice"))
            invoice.update(
                {
                    "InvoiceDate": F.as_date(
                        "InvoiceDate", body.get("InvoiceDate") or datetime.now(UTC).date().isoformat()
                    ),
                    "Status": F.enum(INVOICE_STATUSES)("Status", body.get("Status") or "Sent"),
                    "Currency": reportings[0].get("CurrencyChargeRateValue") or "EUR",
                    "ExchangeRate": 1.0,
                    "DiscountType": "NotSet",
                    "Discount": 0.0,
                    "Margin": 0.0,
                    "TaxOption": "VatApplicable",
                    "ServiceOption": "Service",
                    "Type": "Invoice",
                    "CompanyId": project.get("CompanyId"),
                    "ProjectId": project.get("Id"),
                    "Subject": body.get("Subject") or "Leistungen",
                    "PaidTotal": 0.0,
                    "Language": "DE",
                }
            )
            data.insert("Invoices", invoice, ADMIN_ACTOR)
            invoice["Number"] = f"RE-{invoice['Id']}"
            invoice["CalculatedSubject"] = invoice["Subject"]
            positions = []
            for order, rec in enumerate(reportings, start=1):
                pos = blank(entity("DocumentPosition"))
                pos.update(
                    {
                        "Type": "UserReporting",
                        "Order": order,
                        "Text": rec.get("Note") or "Reporting",
                        "Unit": "h",
                        "Amount": round(rec["Duration"] / 3600, 4),
                        "Price": rec.get("ChargeRateValue") or 0.0,
                        "Tax": 19.0,
                        "Discount": 0.0,
                        "Margin": 0.0,
                        "IsOptional": False,
                        "ExcludeFromEarlyPayment": False,
                        "Interval": "Once",
                        "ProjectId": rec["ProjectId"],
                        "DocumentId": invoice["Id"],
                        "_reporting_ids": [rec["Id"]],
                    }
                )
                positions.append(data.insert("DocumentPositions", pos, ADMIN_ACTOR))
                rec["_billed_invoice_id"] = invoice["Id"]
                data.save("UserReportings", rec, ADMIN_ACTOR, touch=False)
            for pos in recompute(invoice, positions):
                data.save("DocumentPositions", pos, ADMIN_ACTOR, touch=False)
            data.save("Invoices", invoice, ADMIN_ACTOR, touch=False)
            return {**public(invoice), "reporting_ids": [r["Id"] for r in reportings]}

    @router.get("/tenants/{tenant}/records/{kind}/{record_id}")
    def raw_record(tenant: str, kind: str, record_id: str) -> dict[str, Any]:
        """A stored record with its sandbox internals (``_billed_invoice_id``, ``_rate_sources``, ...)."""
        data = tenant_data(tenant)
        rec = data.get(kind, int(record_id) if record_id.isdigit() else record_id)
        if rec is None:
            raise not_found(kind, record_id)
        return rec

    # -- drift: changes behind the sync's back (for the drift audit, docs/audit.md) -------------
    def drift_actor(data: TenantData, email: str | None) -> int:
        return lookup(data, "Users", email, "user", "EMailWork")["Id"] if email else DRIFT_ACTOR

    @router.patch("/tenants/{tenant}/records/{kind}/{record_id}")
    def edit_record(
        tenant: str,
        kind: str,
        record_id: int,
        body: dict[str, Any] = Body(...),
        as_user: str | None = Query(None, alias="as"),
    ) -> dict[str, Any]:
        """Changes a reporting or absence as a person in HQ would, bypassing every lock (billed,
        Personio sync): ``{"Duration": 7200}``, ``{"End": "2026-03-06T00:00:00"}``. ``?as=<e-mail>``
        names who did it (``UpdatedBy``; default -1, "someone in HQ")."""
        allowed = DRIFT_FIELDS.get(kind)
        if allowed is None:
            raise bad_request(f"drift can be injected into {sorted(DRIFT_FIELDS)}, not {kind!r}")
        unknown = set(body) - allowed
        if unknown:
            raise bad_request(
                f"{kind}: these fields cannot be changed here: {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
        with state.write_lock:
            data = tenant_data(tenant)
            rec = data.get(kind, record_id)
            if rec is None:
                raise not_found(kind, record_id)
            actor = drift_actor(data, as_user)
            if kind == "UserReportings":
                rec.update(body)
                rec["Duration"] = F.as_int("Duration", rec["Duration"])
                rec["StartOn"] = F.as_on("StartOn", rec.get("StartOn"))
            else:
                rec.update(body)
                span = absence_period(check_type(rec["Type"]), rec["Start"], rec["End"], data.settings)
                rec.update(
                    {
                        "Start": span.start,
                        "End": span.end,
                        "_interval": [span.interval[0].isoformat(), span.interval[1].isoformat()]
                        if span.interval
                        else None,
                    }
                )
            data.save(kind, rec, actor)
            if kind == "UserAbsences":
                refresh_user_missed_days(data, rec["UserId"])
            return public(data.get(kind, record_id) or rec)

    @router.delete("/tenants/{tenant}/records/{kind}/{record_id}", status_code=204)
    def delete_record(tenant: str, kind: str, record_id: int) -> None:
        """Deletes a reporting or absence behind the sync's back (bypassing every lock)."""
        if kind not in DRIFT_FIELDS:
            raise bad_request(f"drift can be injected into {sorted(DRIFT_FIELDS)}, not {kind!r}")
        with state.write_lock:
            data = tenant_data(tenant)
            rec = data.get(kind, record_id)
            if rec is None:
                raise not_found(kind, record_id)
            data.delete(kind, record_id)
            if kind == "UserAbsences":
                refresh_user_missed_days(data, rec["UserId"])


def refresh_user_missed_days(data: TenantData, user_id: int) -> None:
    """Recomputes MissedDays of one user's absences after an admin change."""
    absences = data.index("UserAbsences", "UserId").get(user_id, [])
    values = missed_days(absences)
    for absence in list(absences):
        if absence.get("MissedDays") != values[absence["Id"]]:
            data.save("UserAbsences", {**absence, "MissedDays": values[absence["Id"]]}, ADMIN_ACTOR, touch=False)

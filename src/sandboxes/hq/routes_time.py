"""Reportings (time bookings) and absences."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sandboxes.hq import fields as F
from sandboxes.hq.absences import check_type, missed_days, period
from sandboxes.hq.api import Api, Ctx
from sandboxes.hq.errors import HQError, bad_request, not_found
from sandboxes.hq.model import Record, blank, entity
from sandboxes.hq.rates import RATE_RULES, resolve_rates

MAX_DURATION = 24 * 3600

REPORTING_WRITABLE: dict[str, F.Converter] = {
    "Note": F.as_str,
    "Duration": F.as_int,
    "StartOn": F.as_on,
    "BreakDuration": F.as_int,
    "TaskId": F.as_int,
    "IsApproved": F.as_bool,
}
REPORTING_DEFAULTS: dict[str, Any] = {"IsApproved": False, "BreakDuration": 0}


def check_task(ctx: Ctx, project_id: int, task_id: int | None) -> Record | None:
    """Returns the reporting's task (None without one); 400 if it is not in the project."""
    if task_id is None:
        return None
    task = ctx.data.get("ProjectTasks", task_id)
    if task is None or task.get("ProjectId") != project_id:
        raise bad_request(f"The task {task_id} does not exist in project {project_id}.")
    if ctx.settings.block_reporting_on_done_tasks and task.get("IsDone"):
        raise bad_request(f"The task {task_id} is closed; reporting on closed tasks is blocked.")
    return task


def check_duration(name: str, value: Any) -> int:
    """Returns a duration in whole seconds (HQ: ``Duration`` is seconds); 400 if out of range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"The property '{name}' must be a number of seconds.")
    seconds = int(round(value))
    if not 0 < seconds <= MAX_DURATION:
        raise bad_request(f"The property '{name}' must be between 1 and {MAX_DURATION} seconds, not {value}.")
    return seconds


def ensure_not_billed(ctx: Ctx, reporting: Record) -> None:
    """Raises the configured error when the reporting was billed by an invoice."""
    invoice_id = reporting.get("_billed_invoice_id")
    if invoice_id is not None:
        raise HQError(
            ctx.settings.billed_status,
            f"The reporting {reporting['Id']} has been billed (invoice {invoice_id}) and cannot be changed or deleted.",
            "ReportingBilled",
        )


def ensure_absences_writable(ctx: Ctx) -> None:
    """B7: while the tenant's Personio sync is on, only the sync token may write absences."""
    if ctx.settings.personio_sync and not ctx.principal.is_sync:
        raise HQError(
            ctx.settings.personio_lock_status,
            "Absences cannot be created, changed or deleted while the Personio synchronisation is active.",
            "PersonioSyncActive",
        )


def refresh_missed_days(ctx: Ctx, user_id: int) -> None:
    """Recomputes MissedDays of a user's absences (overlaps depend on the other absences)."""
    absences = ctx.data.index("UserAbsences", "UserId").get(user_id, [])
    values = missed_days(absences)
    for absence in list(absences):
        if absence.get("MissedDays") != values[absence["Id"]]:
            rec = dict(absence)
            rec["MissedDays"] = values[absence["Id"]]
            ctx.data.save("UserAbsences", rec, ctx.actor, touch=False)


def register(router: APIRouter, api: Api) -> None:
    """Adds the routes of this module to ``router``."""

    # -- reportings --------------------------------------------------------------------------
    @router.post("/v1/Projects({project_id})/do.CreateReporting", status_code=201)
    async def create_reporting(project_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        allowed = {"UserId", "TaskId", "StartDate", "Duration", "Description", "IsApproved"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise bad_request(f"Unknown parameters {unknown}; do.CreateReporting takes {sorted(allowed)}.")
        with api.state.write_lock:
            project = ctx.data.require("Projects", api.key(project_id, "Project"), "Project")
            F.require(body, "UserId", "StartDate", "Duration")
            user_id = F.as_int("UserId", body["UserId"])
            user = ctx.data.get("Users", user_id)
            if user is None:
                raise bad_request(f"There is no user with the Id {user_id}.")
            task = check_task(ctx, project["Id"], F.as_int("TaskId", body.get("TaskId")))
            member = next(
                (
                    m
                    for m in ctx.data.index("ProjectMembers", "ProjectId").get(project["Id"], [])
                    if m["UserId"] == user_id
                ),
                None,
            )
            company = ctx.data.get("Companies", project["CompanyId"]) if project.get("CompanyId") else None
            rates = resolve_rates(
                ctx.data.by_id(RATE_RULES), member, company, user, task.get("TaskTypeId") if task else None
            )
            rec = blank(entity("UserReporting"))
            rec.update(
                {
                    "Note": F.as_str("Description", body.get("Description")),
                    "Duration": check_duration("Duration", body["Duration"]),
                    "UserId": user_id,
                    "ChargeRateValue": rates.external,
                    "InternalChargeRateValue": rates.internal,
                    "IsApproved": F.as_bool("IsApproved", body.get("IsApproved")) or False,
                    "StartOn": F.as_on("StartDate", body["StartDate"]),
                    "BreakDuration": 0,
                    "ProjectId": project["Id"],
                    "TaskId": task["Id"] if task else None,
                    "CurrencyChargeRateValue": rates.currency_external,
                    "CurrencyInternalChargeRateValue": rates.currency_internal,
                    "_rate_sources": [rates.source_external, rates.source_internal],
                    "_billed_invoice_id": None,
                }
            )
            ctx.data.insert("UserReportings", rec, ctx.actor)
        return api.entity(ctx, rec, "UserReporting", "UserReportings", status=201)

    @router.get("/v1/UserReportings")
    def list_reportings(ctx: Ctx = api.ctx) -> Any:
        return api.collection(ctx, ctx.data.records("UserReportings"), "UserReporting", "UserReportings")

    @router.get("/v1/UserReportings({reporting_id})")
    def get_reporting(reporting_id: str, ctx: Ctx = api.ctx) -> Any:
        rec = ctx.data.require("UserReportings", api.key(reporting_id, "UserReporting"), "UserReporting")
        return api.entity(ctx, rec, "UserReporting", "UserReportings")

    @router.get("/v1/Users({user_id})/Reportings")
    def list_user_reportings(user_id: str, ctx: Ctx = api.ctx) -> Any:
        user = ctx.data.require("Users", api.key(user_id, "User"), "User")
        records = ctx.data.index("UserReportings", "UserId").get(user["Id"], [])
        return api.collection(ctx, records, "UserReporting", f"Users({user['Id']})/Reportings")

    def reporting_of(ctx: Ctx, user_id: str, reporting_id: str) -> Record:
        user = ctx.data.require("Users", api.key(user_id, "User"), "User")
        rec = ctx.data.get("UserReportings", api.key(reporting_id, "UserReporting"))
        if rec is None or rec["UserId"] != user["Id"]:
            raise not_found("UserReporting", reporting_id)
        return rec

    @router.get("/v1/Users({user_id})/Reportings({reporting_id})")
    def get_user_reporting(user_id: str, reporting_id: str, ctx: Ctx = api.ctx) -> Any:
        return api.entity(ctx, reporting_of(ctx, user_id, reporting_id), "UserReporting", "UserReportings")

    @router.put("/v1/Users({user_id})/Reportings({reporting_id})")
    async def put_user_reporting(user_id: str, reporting_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.check_known(body, entity("UserReporting"))
        with api.state.write_lock:
            rec = reporting_of(ctx, user_id, reporting_id)
            ensure_not_billed(ctx, rec)
            if body.get("UserId") not in (None, rec["UserId"]):
                raise bad_request("A reporting cannot be moved to another user.")
            if body.get("ProjectId") not in (None, rec["ProjectId"]):
                raise bad_request("A reporting cannot be moved to another project.")
            replace = ctx.settings.put_semantics == "replace"
            for name in ("Duration", "StartOn"):
                if replace and body.get(name) is None:
                    raise bad_request(f"The property '{name}' is required.")
            F.apply(rec, body, REPORTING_WRITABLE, replace=replace, defaults=REPORTING_DEFAULTS)
            rec["Duration"] = check_duration("Duration", rec["Duration"])
            if rec.get("BreakDuration") is not None and rec["BreakDuration"] < 0:
                raise bad_request("The property 'BreakDuration' must not be negative.")
            check_task(ctx, rec["ProjectId"], rec.get("TaskId"))
            ctx.data.save("UserReportings", rec, ctx.actor)
        return api.entity(ctx, rec, "UserReporting", "UserReportings")

    @router.delete("/v1/Users({user_id})/Reportings({reporting_id})")
    def delete_user_reporting(user_id: str, reporting_id: str, ctx: Ctx = api.ctx) -> Any:
        with api.state.write_lock:
            rec = reporting_of(ctx, user_id, reporting_id)
            ensure_not_billed(ctx, rec)
            ctx.data.delete("UserReportings", rec["Id"])
        return api.no_content()

    # -- absences ----------------------------------------------------------------------------
    @router.get("/v1/Users({user_id})/Absences")
    def list_absences(user_id: str, ctx: Ctx = api.ctx) -> Any:
        user = ctx.data.require("Users", api.key(user_id, "User"), "User")
        records = ctx.data.index("UserAbsences", "UserId").get(user["Id"], [])
        return api.collection(ctx, records, "UserAbsence", f"Users({user['Id']})/Absences")

    def absence_of(ctx: Ctx, user_id: str, absence_id: str) -> Record:
        user = ctx.data.require("Users", api.key(user_id, "User"), "User")
        rec = ctx.data.get("UserAbsences", api.key(absence_id, "UserAbsence"))
        if rec is None or rec["UserId"] != user["Id"]:
            raise not_found("UserAbsence", absence_id)
        return rec

    @router.get("/v1/Users({user_id})/Absences({absence_id})")
    def get_absence(user_id: str, absence_id: str, ctx: Ctx = api.ctx) -> Any:
        return api.entity(ctx, absence_of(ctx, user_id, absence_id), "UserAbsence", "UserAbsences")

    @router.post("/v1/Users({user_id})/Absences", status_code=201)
    async def create_absence(user_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.check_known(body, entity("UserAbsence"))
        with api.state.write_lock:
            user = ctx.data.require("Users", api.key(user_id, "User"), "User")
            ensure_absences_writable(ctx)
            if body.get("UserId") is None:  # required by HQ's Swagger file (UserAbsence: Start, End, UserId)
                raise bad_request("The property 'UserId' is required.")
            if body.get("UserId") != user["Id"]:
                raise bad_request(f"'UserId' {body['UserId']} does not match the user {user['Id']} of the URL.")
            absence_type = check_type(body.get("Type"))
            span = period(absence_type, body.get("Start"), body.get("End"), ctx.settings)
            rec = blank(entity("UserAbsence"))
            rec.update(
                {
                    "Start": span.start,
                    "End": span.end,
                    "Type": absence_type,
                    "Note": F.as_str("Note", body.get("Note")),
                    "UserId": user["Id"],
                    "IsApproved": F.as_bool("IsApproved", body.get("IsApproved")) or False,
                    "MissedDays": 0.0,
                    "_interval": [span.interval[0].isoformat(), span.interval[1].isoformat()]
                    if span.interval
                    else None,
                }
            )
            ctx.data.insert("UserAbsences", rec, ctx.actor)
            refresh_missed_days(ctx, user["Id"])
            rec = ctx.data.require("UserAbsences", rec["Id"], "UserAbsence")
        return api.entity(ctx, rec, "UserAbsence", "UserAbsences", status=201)

    @router.delete("/v1/Users({user_id})/Absences({absence_id})")
    def delete_absence(user_id: str, absence_id: str, ctx: Ctx = api.ctx) -> Any:
        with api.state.write_lock:
            rec = absence_of(ctx, user_id, absence_id)
            ensure_absences_writable(ctx)
            ctx.data.delete("UserAbsences", rec["Id"])
            refresh_missed_days(ctx, rec["UserId"])
        # The v1 Swagger file answers this DELETE with 200 (not 204 like the other deletes).
        return Response(status_code=200)

"""Companies (clients): ``/companies`` CRUD and ``POST /companies/{id}/delete``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from sandboxes.awork.auth import authenticate
from sandboxes.awork.errors import invalid_operation, validation_failed
from sandboxes.awork.listing import json_response, paged_list
from sandboxes.awork.render import SCHEMAS, Lookups
from sandboxes.awork.routes.common import Form, no_content, read_json, require, require_ref
from sandboxes.awork.routes.projects import delete_project_data
from sandboxes.awork.state import COMPANIES, PROJECTS, Ctx

router = APIRouter(prefix="/api/v1")

DELETE_OPERATIONS = ("move", "delete-only-company", "delete-all-without-timeentries", "delete-all")
# Company fields kept in the stored record (the counts are computed).
_STORED = [k for k in SCHEMAS["company"] if k not in ("projectsCount", "projectsInProgressCount")]


def _form(body: object) -> dict:
    form = Form(body, "company")
    values = {
        "name": form.string("name", required=True, max_length=1000),
        "description": form.string("description", max_length=25000),
        "industry": form.string("industry", max_length=1000),
    }
    form.check()
    return values


@router.get("/companies")
async def list_companies(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    lookups = Lookups(ctx)
    return paged_list(
        request,
        list(ctx.all(COMPANIES)),
        schema=SCHEMAS["company"],
        render=lookups.company,
        settings=ctx.settings,
        stored_fields=_STORED,
    )


@router.post("/companies")
async def create_company(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    values = _form(await read_json(request))
    rec = ctx.stamp_new(
        {
            **values,
            "id": None,
            "hasImage": False,
            "companyContactInfos": [],
            "createdOn": None,
            "createdBy": None,
            "updatedOn": None,
            "updatedBy": None,
            "resourceVersion": 0,
            "tags": [],
            "isExternal": False,
        }
    )
    ctx.put(COMPANIES, rec)
    return json_response(Lookups(ctx).company(rec))


@router.get("/companies/{company_id}")
async def get_company(company_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    return json_response(Lookups(ctx).company(require(ctx, COMPANIES, company_id, "Company")))


@router.put("/companies/{company_id}")
async def update_company(company_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    rec = require(ctx, COMPANIES, company_id, "Company")
    rec.update(_form(await read_json(request)))
    ctx.put(COMPANIES, ctx.stamp_update(rec))
    return json_response(Lookups(ctx).company(rec))


@router.post("/companies/{company_id}/delete")
async def delete_company(company_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Delete a company; its projects are moved, detached, or deleted (with or without their
    time entries) as ``deleteOperation`` says."""
    rec = require(ctx, COMPANIES, company_id, "Company")
    form = Form(await read_json(request, required=False) or {}, "delete form")
    operation = form.string("deleteOperation") or "delete-only-company"
    move_to = form.guid("moveToCompany")
    form.check()
    if operation not in DELETE_OPERATIONS:
        raise validation_failed(
            [("DeleteOperation", f"'DeleteOperation' must be one of {', '.join(DELETE_OPERATIONS)}.")]
        )
    if operation == "move":
        if move_to is None:
            raise validation_failed([("MoveToCompany", "'MoveToCompany' is required for 'move'.")])
        if move_to == rec["id"]:
            raise invalid_operation("A company cannot be moved onto itself.")
        require_ref(ctx, COMPANIES, move_to, "Company")
    projects = [dict(p) for p in ctx.all(PROJECTS) if p.get("companyId") == rec["id"]]
    for project in projects:
        if operation in ("move", "delete-only-company"):
            project["companyId"] = move_to if operation == "move" else None
            ctx.put(PROJECTS, ctx.stamp_update(project))
        else:
            delete_project_data(ctx, project, delete_time_entries=operation == "delete-all")
    ctx.delete(COMPANIES, rec["id"])
    return no_content()

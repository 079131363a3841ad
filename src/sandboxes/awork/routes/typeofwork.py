"""Types of work ("Tätigkeiten"): ``/typeofwork`` CRUD, ``setarchived``, ``delete`` (with a
replacement that takes over the tasks and time entries of the deleted type)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from sandboxes.awork.auth import authenticate
from sandboxes.awork.errors import AworkError, invalid_operation
from sandboxes.awork.listing import flag, json_response, paged_list, query
from sandboxes.awork.render import SCHEMAS, Lookups
from sandboxes.awork.routes.common import (
    Form,
    no_content,
    read_json,
    require,
    require_ref,
    touch_time_entries,
)
from sandboxes.awork.state import TASKS, TIME_ENTRIES, TYPES_OF_WORK, Ctx

router = APIRouter(prefix="/api/v1")


@router.get("/typeofwork")
async def list_types(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    show_archived = flag(query(request), "showArchived")
    items = [t for t in ctx.all(TYPES_OF_WORK) if show_archived or not t["isArchived"]]
    return paged_list(
        request,
        items,
        schema=SCHEMAS["type_of_work"],
        render=Lookups(ctx).type_of_work,
        settings=ctx.settings,
        stored_fields=SCHEMAS["type_of_work"],
    )


def _form(body: object) -> tuple[str, str | None, str | None]:
    form = Form(body, "type of work")
    name = form.string("name", required=True)
    description = form.string("description")
    icon = form.string("icon")
    form.check()
    return str(name), description, icon


def _check_unique(ctx: Ctx, name: str, own_id: str | None = None) -> None:
    for other in ctx.all(TYPES_OF_WORK):
        if other["id"] != own_id and other["name"].strip().lower() == name.strip().lower():
            raise AworkError(400, "duplication-violation", f"A type of work with the name '{name}' exists already.")


@router.post("/typeofwork")
async def create_type(request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    name, description, icon = _form(await read_json(request))
    _check_unique(ctx, name)
    rec = ctx.stamp_new({"id": None, "name": name, "description": description, "icon": icon, "isArchived": False})
    ctx.put(TYPES_OF_WORK, rec)
    return json_response(Lookups(ctx).type_of_work(rec))


@router.get("/typeofwork/{type_id}")
async def get_type(type_id: str, ctx: Ctx = Depends(authenticate)) -> Response:
    return json_response(Lookups(ctx).type_of_work(require(ctx, TYPES_OF_WORK, type_id, "Type of work")))


@router.put("/typeofwork/{type_id}")
async def update_type(type_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    rec = require(ctx, TYPES_OF_WORK, type_id, "Type of work")
    name, description, icon = _form(await read_json(request))
    _check_unique(ctx, name, rec["id"])
    rec.update(name=name, description=description, icon=icon)
    ctx.put(TYPES_OF_WORK, ctx.stamp_update(rec))
    touch_time_entries(ctx, lambda e: e.get("typeOfWorkId") == rec["id"])
    return json_response(Lookups(ctx).type_of_work(rec))


@router.post("/typeofwork/{type_id}/setarchived")
async def set_archived(type_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    rec = require(ctx, TYPES_OF_WORK, type_id, "Type of work")
    form = Form(await read_json(request), "archived form")
    archived = form.boolean("isArchived", default=False)
    form.check()
    rec["isArchived"] = bool(archived)
    ctx.put(TYPES_OF_WORK, ctx.stamp_update(rec))
    return json_response(Lookups(ctx).type_of_work(rec))


@router.post("/typeofwork/{type_id}/delete")
async def delete_type(type_id: str, request: Request, ctx: Ctx = Depends(authenticate)) -> Response:
    """Delete a type; its tasks and time entries move to the replacement ``typeOfWorkId``."""
    rec = require(ctx, TYPES_OF_WORK, type_id, "Type of work")
    form = Form(await read_json(request, required=False) or {}, "delete form")
    replacement_id = form.guid("typeOfWorkId")
    form.check()
    used = any(t.get("typeOfWorkId") == rec["id"] for t in ctx.all(TASKS)) or any(
        e.get("typeOfWorkId") == rec["id"] for e in ctx.all(TIME_ENTRIES)
    )
    if replacement_id == rec["id"]:
        raise invalid_operation("A type of work cannot replace itself.")
    if used:
        if replacement_id is None:
            raise invalid_operation("The type of work is in use; give a replacement 'typeOfWorkId'.")
        require_ref(ctx, TYPES_OF_WORK, replacement_id, "Type of work")
        for task in [dict(t) for t in ctx.all(TASKS) if t.get("typeOfWorkId") == rec["id"]]:
            task["typeOfWorkId"] = replacement_id
            ctx.put(TASKS, ctx.stamp_update(task))
        for entry in [dict(e) for e in ctx.all(TIME_ENTRIES) if e.get("typeOfWorkId") == rec["id"]]:
            entry["typeOfWorkId"] = replacement_id
            ctx.put(TIME_ENTRIES, ctx.stamp_update(entry))
    ctx.delete(TYPES_OF_WORK, rec["id"])
    return no_content()

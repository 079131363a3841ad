"""Users, master data (read-only in HQ's API), custom fields and companies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from sandboxes.hq import fields as F
from sandboxes.hq.api import Api, Ctx
from sandboxes.hq.data import CUSTOM_FIELD_VALUES, custom_field_entity
from sandboxes.hq.errors import HQError, bad_request, not_found
from sandboxes.hq.model import Record, blank, entity
from sandboxes.hq.timeutil import normalize_date, now_stamp

USER_WRITABLE: dict[str, F.Converter] = {
    name: (F.as_date if name.endswith("Date") else F.as_float if name == "BasicLoadInHours" else F.as_str)
    for name in entity("User").properties
    if name not in ("Id", "CreatedBy", "UpdatedBy", "CreatedOn", "UpdatedOn")
}

COMPANY_WRITABLE: dict[str, F.Converter] = {
    "Name": F.as_str,
    "IndustrialSector": F.as_str,
    "Description": F.as_str,
    "IBAN": F.as_str,
    "BIC": F.as_str,
    "DebitorNumber": F.as_int,
    "CreditorNumber": F.as_int,
    "TaxId": F.as_str,
    "DefaultDeliveryConditionId": F.as_int,
    "DefaultPaymentConditionId": F.as_int,
}

ADDRESS_FIELDS = [
    n
    for n in entity("CompanyAddress").properties
    if n not in ("Id", "CreatedBy", "UpdatedBy", "CreatedOn", "UpdatedOn")
]

# (entity set, entity type, stored kind, custom-field category) of entities with custom fields.
CUSTOM_FIELD_OWNERS = (
    ("Projects", "Project", "Projects", "Project"),
    ("Companies", "Company", "Companies", "Company"),
    ("Users", "User", "Users", "User"),
)

MASTER_DATA = (
    # (entity set, entity type, kind)
    ("TaskTypes", "TaskType", "TaskTypes"),
    ("ProjectRoles", "ProjectRole", "ProjectRoles"),
    ("ProjectStatuses", "ProjectStatus", "ProjectStatuses"),
    ("ProjectTemplates", "ProjectTemplate", "ProjectTemplates"),
    ("CustomFieldDefinitions", "CustomFieldDefinition", "CustomFieldDefinitions"),
    ("CompanyTypes", "CompanyType", "CompanyTypes"),
)


def custom_field_value(definition: Record, value: Any) -> str | None:
    """Validates a custom-field value against its definition's type; returns the stored string.

    Values are strings in HQ's v1 API. Booleans are stored as "true"/"false"; the Link format is
    undocumented, so any string is accepted.
    """
    name, kind = definition["Name"], definition.get("TypeText")
    if value is None or value == "":
        return None if value is None else ""
    if kind == "Boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower()
        raise bad_request(f"The custom field '{name}' is Boolean: its Value must be 'true' or 'false'.")
    if isinstance(value, dict | list) or isinstance(value, bool):
        raise bad_request(f"The Value of custom field '{name}' must be a string.")
    text = str(value)
    if kind == "Integer":
        try:
            return str(int(text))
        except ValueError:
            raise bad_request(f"The custom field '{name}' is Integer: '{text}' is not an integer.") from None
    if kind == "Float":
        try:
            return str(float(text))
        except ValueError:
            raise bad_request(f"The custom field '{name}' is Float: '{text}' is not a number.") from None
    if kind == "Date":
        try:
            return normalize_date(text)
        except ValueError:
            raise bad_request(f"The custom field '{name}' is a Date: '{text}' is not an ISO 8601 date.") from None
    if kind in ("Dropdown", "DropdownCheckbox"):
        options = [o.get("OptionValue") for o in definition.get("_options") or []]
        chosen = [t.strip() for t in text.split(",")] if kind == "DropdownCheckbox" else [text]
        bad = [c for c in chosen if options and c not in options]
        if bad:
            raise bad_request(f"'{bad[0]}' is not an option of custom field '{name}'; options: {options}.")
    return text


def register(router: APIRouter, api: Api) -> None:
    """Adds the routes of this module to ``router``."""

    # -- users -------------------------------------------------------------------------------
    @router.get("/v1/Users")
    def list_users(ctx: Ctx = api.ctx) -> Any:
        include = ctx.request.query_params.get("includedeactivated", "").lower() == "true"
        users = [u for u in ctx.data.records("Users") if include or not u.get("_deactivated")]
        return api.collection(ctx, users, "User", "Users")

    @router.get("/v1/Users({user_id})")
    def get_user(user_id: str, ctx: Ctx = api.ctx) -> Any:
        rec = ctx.data.require("Users", api.key(user_id, "User"), "User")
        return api.entity(ctx, rec, "User", "Users")

    @router.put("/v1/Users({user_id})")
    async def put_user(user_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.check_known(body, entity("User"))
        with api.state.write_lock:
            rec = ctx.data.require("Users", api.key(user_id, "User"), "User")
            F.apply(rec, body, USER_WRITABLE, replace=ctx.settings.put_semantics == "replace")
            if not rec.get("EMailWork"):
                raise bad_request("The property 'EMailWork' is required.")
            other = ctx.data.find("Users", "EMailWork", rec["EMailWork"], casefold=True)
            if other is not None and other["Id"] != rec["Id"]:
                raise bad_request(f"Another user already has the e-mail '{rec['EMailWork']}'.")
            ctx.data.save("Users", rec, ctx.actor)
        return api.entity(ctx, rec, "User", "Users")

    @router.get("/v1/Me")
    def me(ctx: Ctx = api.ctx) -> Any:
        if ctx.principal.user_id is None:
            raise HQError(404, "The sync token has no user: /v1/Me needs a user token.", "NotFound")
        rec = ctx.data.require("Users", ctx.principal.user_id, "User")
        return api.entity(ctx, rec, "Me", "Me")

    # -- read-only master data ---------------------------------------------------------------
    for set_name, type_name, kind in MASTER_DATA:
        _master_data_routes(router, api, set_name, type_name, kind)

    # -- custom fields -----------------------------------------------------------------------
    for set_name, type_name, kind, category in CUSTOM_FIELD_OWNERS:
        _custom_field_routes(router, api, set_name, type_name, kind, category)

    # -- companies ---------------------------------------------------------------------------
    @router.get("/v1/Companies")
    def list_companies(ctx: Ctx = api.ctx) -> Any:
        return api.collection(ctx, ctx.data.records("Companies"), "Company", "Companies")

    @router.get("/v1/Companies({company_id})")
    def get_company(company_id: str, ctx: Ctx = api.ctx) -> Any:
        rec = ctx.data.require("Companies", api.key(company_id, "Company"), "Company")
        return api.entity(ctx, rec, "Company", "Companies")

    @router.post("/v1/Companies", status_code=201)
    async def create_company(request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.check_known(body, entity("Company"))
        F.require(body, "Name")
        with api.state.write_lock:
            rec = blank(entity("Company"))
            F.apply(rec, body, COMPANY_WRITABLE, replace=True)
            _company_links(ctx, rec, body)
            ctx.data.insert("Companies", rec, ctx.actor)
        return api.entity(ctx, rec, "Company", "Companies", status=201)

    @router.put("/v1/Companies({company_id})")
    async def put_company(company_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.check_known(body, entity("Company"))
        with api.state.write_lock:
            rec = ctx.data.require("Companies", api.key(company_id, "Company"), "Company")
            F.apply(rec, body, COMPANY_WRITABLE, replace=ctx.settings.put_semantics == "replace")
            if not rec.get("Name"):
                raise bad_request("The property 'Name' is required.")
            _company_links(ctx, rec, body)
            ctx.data.save("Companies", rec, ctx.actor)
        return api.entity(ctx, rec, "Company", "Companies")

    @router.delete("/v1/Companies({company_id})")
    def delete_company(company_id: str, ctx: Ctx = api.ctx) -> Any:
        with api.state.write_lock:
            cid = api.key(company_id, "Company")
            ctx.data.require("Companies", cid, "Company")
            if ctx.data.index("Projects", "CompanyId").get(cid):
                raise bad_request("The company cannot be deleted: projects refer to it.")
            if ctx.data.index("Quotations", "CompanyId").get(cid) or ctx.data.index("Invoices", "CompanyId").get(cid):
                raise bad_request("The company cannot be deleted: documents refer to it.")
            ctx.data.delete("Companies", cid)
            for value in ctx.data.index(CUSTOM_FIELD_VALUES, "EntityId").get(cid, []):
                if value["Category"] == "Company":
                    ctx.data.delete(CUSTOM_FIELD_VALUES, value["Key"])
        return api.no_content()


def _company_links(ctx: Ctx, rec: Record, body: dict[str, Any]) -> None:
    """Applies the embedded DefaultAddress and CompanyTypes of a company body."""
    stamp_from = now_stamp()
    if "DefaultAddress" in body:
        address = body["DefaultAddress"]
        if address is None:
            rec["_default_address"] = None
        elif not isinstance(address, dict):
            raise bad_request("'DefaultAddress' must be an object.")
        else:
            previous = rec.get("_default_address") or {}
            out = {name: address.get(name, previous.get(name)) for name in ADDRESS_FIELDS}
            for name in ADDRESS_FIELDS:
                out[name] = (F.as_bool if name == "IsStandard" else F.as_str)(name, out[name])
            out["IsStandard"] = True
            out["Id"] = previous.get("Id") or ctx.data.new_id("CompanyAddresses")
            out.update(
                {"CreatedBy": ctx.actor, "UpdatedBy": ctx.actor, "CreatedOn": stamp_from, "UpdatedOn": stamp_from}
            )
            rec["_default_address"] = out
            rec["_addresses"] = [out]
    if "CompanyTypes" in body:
        types = body["CompanyTypes"] or []
        if not isinstance(types, list):
            raise bad_request("'CompanyTypes' must be a list.")
        known = ctx.data.by_id("CompanyTypes")
        links = []
        for item in types:
            if not isinstance(item, dict):
                raise bad_request("Each of 'CompanyTypes' must be an object with 'Id' (or 'Name').")
            ctype = (
                known.get(item.get("Id"))
                if item.get("Id") is not None
                else ctx.data.find("CompanyTypes", "Name", item.get("Name"))
            )
            if ctype is None:
                raise bad_request(f"Unknown company type {item.get('Id') or item.get('Name')!r}.")
            # The link's Id is the company type's Id: HQ filters CompanyTypes/any(t: t/Id eq 4002).
            links.append(
                {
                    "Name": ctype["Name"],
                    "Number": F.as_str("Number", item.get("Number")),
                    "CompanyId": rec.get("Id"),
                    "Id": ctype["Id"],
                    "CreatedBy": ctx.actor,
                    "UpdatedBy": ctx.actor,
                    "CreatedOn": ctype.get("CreatedOn"),
                    "UpdatedOn": ctype.get("UpdatedOn"),
                }
            )
        rec["_company_types"] = links
    rec.setdefault("_company_types", [])
    rec.setdefault("_addresses", [])
    rec.setdefault("_default_address", None)


def _master_data_routes(router: APIRouter, api: Api, set_name: str, type_name: str, kind: str) -> None:
    @router.get(f"/v1/{set_name}", name=f"list_{set_name}")
    def list_all(ctx: Ctx = api.ctx) -> Any:
        return api.collection(ctx, ctx.data.records(kind), type_name, set_name)

    @router.get(f"/v1/{set_name}({{key}})", name=f"get_{set_name}")
    def get_one(key: str, ctx: Ctx = api.ctx) -> Any:
        rec = ctx.data.require(kind, api.key(key, type_name), type_name)
        return api.entity(ctx, rec, type_name, set_name)


def _custom_field_routes(router: APIRouter, api: Api, set_name: str, type_name: str, kind: str, category: str) -> None:
    def owner(ctx: Ctx, key: str) -> Record:
        return ctx.data.require(kind, api.key(key, type_name), type_name)

    def field_of(ctx: Ctx, owner_rec: Record, definition_key: str) -> Record:
        def_id = api.key(definition_key, "CustomField")
        for cf in ctx.data.custom_fields(category, owner_rec["Id"]):
            if cf["Id"] == def_id:
                return cf
        raise not_found("CustomField", definition_key)

    @router.get(f"/v1/{set_name}({{key}})/CustomFields", name=f"{set_name}_custom_fields")
    def list_fields(key: str, ctx: Ctx = api.ctx) -> Any:
        rec = owner(ctx, key)
        return api.collection(
            ctx, ctx.data.custom_fields(category, rec["Id"]), "CustomField", f"{set_name}({rec['Id']})/CustomFields"
        )

    @router.get(f"/v1/{set_name}({{key}})/CustomFields({{definition_id}})", name=f"{set_name}_custom_field")
    def get_field(key: str, definition_id: str, ctx: Ctx = api.ctx) -> Any:
        rec = owner(ctx, key)
        return api.entity(
            ctx, field_of(ctx, rec, definition_id), "CustomField", f"{set_name}({rec['Id']})/CustomFields"
        )

    @router.put(f"/v1/{set_name}({{key}})/CustomFields({{definition_id}})", name=f"{set_name}_put_custom_field")
    async def put_field(key: str, definition_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.check_known(body, entity("CustomField"))
        if "Value" not in body:
            raise bad_request("The property 'Value' is required (null clears the field).")
        with api.state.write_lock:
            rec = owner(ctx, key)
            field_of(ctx, rec, definition_id)  # 404 for a definition of another category
            definition = ctx.data.require(
                "CustomFieldDefinitions", api.key(definition_id, "CustomField"), "CustomField"
            )
            value = custom_field_value(definition, body["Value"])
            store_key = f"{category}:{rec['Id']}:{definition['Id']}"
            stored = ctx.data.get(CUSTOM_FIELD_VALUES, store_key)
            if stored is None:
                stored = {
                    "Key": store_key,
                    "Category": category,
                    "EntityId": rec["Id"],
                    "DefinitionId": definition["Id"],
                    "Value": value,
                }
                ctx.data.insert(CUSTOM_FIELD_VALUES, stored, ctx.actor, rid=store_key)
                stored["Id"] = store_key
            else:
                stored["Value"] = value
                ctx.data.save(CUSTOM_FIELD_VALUES, stored, ctx.actor)
            if ctx.settings.custom_field_write_touches_parent:
                ctx.data.save(kind, rec, ctx.actor)
        return api.entity(
            ctx, custom_field_entity(definition, stored), "CustomField", f"{set_name}({rec['Id']})/CustomFields"
        )

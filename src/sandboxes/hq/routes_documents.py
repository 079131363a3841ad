"""Quotations (Angebote) with positions, and invoices (read-only; they mark reportings billed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from sandboxes.hq import fields as F
from sandboxes.hq.api import Api, Ctx
from sandboxes.hq.documents import recompute
from sandboxes.hq.errors import bad_request, not_found
from sandboxes.hq.model import (
    DISCOUNT_TYPES,
    POSITION_TYPES,
    QUOTATION_STATUSES,
    TAX_OPTIONS,
    Record,
    blank,
    entity,
)

QUOTATION_WRITABLE: dict[str, F.Converter] = {
    "QuotationDate": F.as_date,
    "ValidUntilDate": F.as_date,
    "Status": F.enum(QUOTATION_STATUSES),
    "Currency": F.as_str,
    "DeliveryDate": F.as_date,
    "PaymentConditionId": F.as_int,
    "DeliveryConditionId": F.as_int,
    "DiscountType": F.enum(DISCOUNT_TYPES),
    "Discount": F.as_float,
    "Margin": F.as_float,
    "TaxOption": F.enum(TAX_OPTIONS),
    "ServiceOption": F.as_str,
    "AddressText": F.as_str,
    "CompanyAddressId": F.as_int,
    "Subject": F.as_str,
    "Header": F.as_str,
    "Footer": F.as_str,
    "DocumentTemplateId": F.as_int,
    "ContactPersonId": F.as_int,
    "CompanyId": F.as_int,
    "InternalContactPersonId": F.as_int,
    "LeadId": F.as_int,
    "SyncId": F.as_str,
    "ProjectId": F.as_int,
    "Note": F.as_str,
    "CompanyPurchaseOrderNumber": F.as_str,
    "Language": F.as_str,
}
QUOTATION_DEFAULTS: dict[str, Any] = {
    "Status": "Draft",
    "Currency": "EUR",
    "DiscountType": "NotSet",
    "Discount": 0.0,
    "Margin": 0.0,
    "TaxOption": "VatApplicable",
    "ServiceOption": "Service",
    "ExchangeRate": 1.0,
    "Language": "DE",
}
POSITION_WRITABLE: dict[str, F.Converter] = {
    "IsOptional": F.as_bool,
    "Tax": F.as_float,
    "Price": F.as_float,
    "Discount": F.as_float,
    "Margin": F.as_float,
    "ExcludeFromEarlyPayment": F.as_bool,
    "Interval": F.as_str,
    "Text": F.as_str,
    "Unit": F.as_str,
    "Type": F.enum(POSITION_TYPES),
    "Order": F.as_int,
    "ArticleId": F.as_int,
    "ProjectId": F.as_int,
    "Amount": F.as_float,
    "ProjectBudgetId": F.as_int,
    "CostTypeId": F.as_int,
    "BookingAccount": F.as_str,
    "CostCenter1": F.as_str,
    "CostCenter2": F.as_str,
}
POSITION_DEFAULTS: dict[str, Any] = {
    "IsOptional": False,
    "Tax": 19.0,
    "Price": 0.0,
    "Discount": 0.0,
    "Margin": 0.0,
    "ExcludeFromEarlyPayment": False,
    "Type": "Freetext",
    "Amount": 1.0,
    "Interval": "Once",
}


def check_document_refs(ctx: Ctx, rec: Record) -> None:
    """400 unless the document's company (required) and project exist."""
    if rec.get("CompanyId") is None:
        raise bad_request("The property 'CompanyId' is required.")
    if ctx.data.get("Companies", rec["CompanyId"]) is None:
        raise bad_request(f"There is no company with the Id {rec['CompanyId']}.")
    if rec.get("ProjectId") is not None and ctx.data.get("Projects", rec["ProjectId"]) is None:
        raise bad_request(f"There is no project with the Id {rec['ProjectId']}.")


def save_with_totals(ctx: Ctx, kind: str, document: Record, touch: bool = True) -> Record:
    """Recomputes position and document totals, stores what changed; returns the document."""
    positions = [dict(p) for p in ctx.data.index("DocumentPositions", "DocumentId").get(document["Id"], [])]
    for pos in recompute(document, positions):
        ctx.data.save("DocumentPositions", pos, ctx.actor, touch=False)
    return ctx.data.save(kind, document, ctx.actor, touch=touch)


def new_position(ctx: Ctx, document: Record, body: dict[str, Any]) -> Record:
    """Validates and stores a new position of ``document`` (totals are recomputed by the caller)."""
    F.check_known(body, entity("DocumentPosition"))
    rec = blank(entity("DocumentPosition"))
    F.apply(rec, body, POSITION_WRITABLE, replace=True, defaults=POSITION_DEFAULTS)
    rec["DocumentId"] = document["Id"]
    if rec["Order"] is None:
        orders = [
            p.get("Order") or 0 for p in ctx.data.index("DocumentPositions", "DocumentId").get(document["Id"], [])
        ]
        rec["Order"] = max(orders, default=0) + 1
    rec["_reporting_ids"] = []
    return ctx.data.insert("DocumentPositions", rec, ctx.actor)


def register(router: APIRouter, api: Api) -> None:
    """Adds the routes of this module to ``router``."""

    def quotation(ctx: Ctx, key: str) -> Record:
        return ctx.data.require("Quotations", api.key(key, "Quotation"), "Quotation")

    @router.get("/v1/Quotations")
    def list_quotations(ctx: Ctx = api.ctx) -> Any:
        return api.collection(ctx, ctx.data.records("Quotations"), "Quotation", "Quotations")

    @router.get("/v1/Quotations({quotation_id})")
    def get_quotation(quotation_id: str, ctx: Ctx = api.ctx) -> Any:
        return api.entity(ctx, quotation(ctx, quotation_id), "Quotation", "Quotations")

    @router.post("/v1/Quotations", status_code=201)
    async def create_quotation(request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.check_known(body, entity("Quotation"))
        positions = body.get("Positions") or []
        if not isinstance(positions, list) or not all(isinstance(p, dict) for p in positions):
            raise bad_request("'Positions' must be a list of objects.")
        with api.state.write_lock:
            rec = blank(entity("Quotation"))
            F.apply(rec, body, QUOTATION_WRITABLE, replace=True, defaults=QUOTATION_DEFAULTS)
            for name, value in QUOTATION_DEFAULTS.items():
                rec[name] = value if rec.get(name) is None else rec[name]
            rec["QuotationDate"] = rec["QuotationDate"] or F.as_date(
                "QuotationDate", datetime.now(UTC).date().isoformat()
            )
            rec["Type"] = "Quotation"
            rec["PaidTotal"] = 0.0
            check_document_refs(ctx, rec)
            for pos in positions:  # validate before storing anything
                F.check_known(pos, entity("DocumentPosition"))
            ctx.data.insert("Quotations", rec, ctx.actor)
            rec["Number"] = f"AN-{rec['Id']}"
            rec["CalculatedSubject"] = rec.get("Subject")
            for pos in positions:
                new_position(ctx, rec, pos)
            save_with_totals(ctx, "Quotations", rec, touch=False)
        return api.entity(ctx, rec, "Quotation", "Quotations", status=201)

    @router.put("/v1/Quotations({quotation_id})")
    async def put_quotation(quotation_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.check_known(body, entity("Quotation"))
        with api.state.write_lock:
            rec = quotation(ctx, quotation_id)
            F.apply(
                rec,
                body,
                QUOTATION_WRITABLE,
                replace=ctx.settings.put_semantics == "replace",
                defaults=QUOTATION_DEFAULTS,
            )
            check_document_refs(ctx, rec)
            rec["CalculatedSubject"] = rec.get("Subject")
            save_with_totals(ctx, "Quotations", rec)
        return api.entity(ctx, rec, "Quotation", "Quotations")

    @router.delete("/v1/Quotations({quotation_id})")
    def delete_quotation(quotation_id: str, ctx: Ctx = api.ctx) -> Any:
        with api.state.write_lock:
            rec = quotation(ctx, quotation_id)
            for pos in list(ctx.data.index("DocumentPositions", "DocumentId").get(rec["Id"], [])):
                ctx.data.delete("DocumentPositions", pos["Id"])
            ctx.data.delete("Quotations", rec["Id"])
        return api.no_content()

    @router.post("/v1/Quotations({quotation_id})/do.SetStatus")
    async def set_quotation_status(quotation_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.require(body, "Status")
        with api.state.write_lock:
            rec = quotation(ctx, quotation_id)
            rec["Status"] = F.enum(QUOTATION_STATUSES)("Status", body["Status"])
            ctx.data.save("Quotations", rec, ctx.actor)
        return api.entity(ctx, rec, "Quotation", "Quotations")

    # -- positions ---------------------------------------------------------------------------
    def position(ctx: Ctx, document: Record, key: str) -> Record:
        rec = ctx.data.get("DocumentPositions", api.key(key, "DocumentPosition"))
        if rec is None or rec["DocumentId"] != document["Id"]:
            raise not_found("DocumentPosition", key)
        return rec

    @router.get("/v1/Quotations({quotation_id})/Positions")
    def list_positions(quotation_id: str, ctx: Ctx = api.ctx) -> Any:
        doc = quotation(ctx, quotation_id)
        records = ctx.data.index("DocumentPositions", "DocumentId").get(doc["Id"], [])
        return api.collection(ctx, records, "DocumentPosition", f"Quotations({doc['Id']})/Positions")

    @router.get("/v1/Quotations({quotation_id})/Positions({position_id})")
    def get_position(quotation_id: str, position_id: str, ctx: Ctx = api.ctx) -> Any:
        doc = quotation(ctx, quotation_id)
        return api.entity(
            ctx, position(ctx, doc, position_id), "DocumentPosition", f"Quotations({doc['Id']})/Positions"
        )

    @router.post("/v1/Quotations({quotation_id})/Positions", status_code=201)
    async def create_position(quotation_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        with api.state.write_lock:
            doc = quotation(ctx, quotation_id)
            rec = new_position(ctx, doc, body)
            save_with_totals(ctx, "Quotations", doc)
            rec = ctx.data.require("DocumentPositions", rec["Id"], "DocumentPosition")
        return api.entity(ctx, rec, "DocumentPosition", f"Quotations({doc['Id']})/Positions", status=201)

    @router.put("/v1/Quotations({quotation_id})/Positions({position_id})")
    async def put_position(quotation_id: str, position_id: str, request: Request, ctx: Ctx = api.ctx) -> Any:
        body = await api.body(request)
        F.check_known(body, entity("DocumentPosition"))
        with api.state.write_lock:
            doc = quotation(ctx, quotation_id)
            rec = position(ctx, doc, position_id)
            F.apply(
                rec,
                body,
                POSITION_WRITABLE,
                replace=ctx.settings.put_semantics == "replace",
                defaults=POSITION_DEFAULTS,
            )
            ctx.data.save("DocumentPositions", rec, ctx.actor)
            save_with_totals(ctx, "Quotations", doc)
            rec = ctx.data.require("DocumentPositions", rec["Id"], "DocumentPosition")
        return api.entity(ctx, rec, "DocumentPosition", f"Quotations({doc['Id']})/Positions")

    @router.delete("/v1/Quotations({quotation_id})/Positions({position_id})")
    def delete_position(quotation_id: str, position_id: str, ctx: Ctx = api.ctx) -> Any:
        with api.state.write_lock:
            doc = quotation(ctx, quotation_id)
            rec = position(ctx, doc, position_id)
            ctx.data.delete("DocumentPositions", rec["Id"])
            save_with_totals(ctx, "Quotations", doc)
        return api.no_content()

    # -- invoices (read-only: created by the admin endpoint that bills reportings) -----------
    def invoice(ctx: Ctx, key: str) -> Record:
        return ctx.data.require("Invoices", api.key(key, "Invoice"), "Invoice")

    @router.get("/v1/Invoices")
    def list_invoices(ctx: Ctx = api.ctx) -> Any:
        return api.collection(ctx, ctx.data.records("Invoices"), "Invoice", "Invoices")

    @router.get("/v1/Invoices({invoice_id})")
    def get_invoice(invoice_id: str, ctx: Ctx = api.ctx) -> Any:
        return api.entity(ctx, invoice(ctx, invoice_id), "Invoice", "Invoices")

    @router.get("/v1/Invoices({invoice_id})/Positions")
    def list_invoice_positions(invoice_id: str, ctx: Ctx = api.ctx) -> Any:
        doc = invoice(ctx, invoice_id)
        records = ctx.data.index("DocumentPositions", "DocumentId").get(doc["Id"], [])
        return api.collection(ctx, records, "DocumentPosition", f"Invoices({doc['Id']})/Positions")

    @router.get("/v1/Invoices({invoice_id})/Positions({position_id})")
    def get_invoice_position(invoice_id: str, position_id: str, ctx: Ctx = api.ctx) -> Any:
        doc = invoice(ctx, invoice_id)
        return api.entity(ctx, position(ctx, doc, position_id), "DocumentPosition", f"Invoices({doc['Id']})/Positions")

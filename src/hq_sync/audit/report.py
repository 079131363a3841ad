"""The audit's result as tables (pandas): cells, differences, totals; stored in staging; exported
as CSV or Excel for a finance team (docs/audit.md)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, delete, select

from hq_sync.audit.model import AuditKind, AuditStatus, Explanation, Pair, SourceRead, Window
from hq_sync.staging.schema import audit_cells, audit_differences, audit_runs, utcnow

CELL_KEY = ["kind", "person", "scope", "scope_label", "month"]
UNITS = {AuditKind.HOURS.value: "h", AuditKind.ABSENCE_DAYS.value: "d"}


@dataclass
class AuditResult:
    cells: pd.DataFrame  # CELL_KEY + source_qty, hq_qty, explained_qty, unexplained_qty
    differences: pd.DataFrame  # CELL_KEY + source_qty, hq_qty, explanation, reason, detail, source_ref, hq_ref, who
    totals: dict[str, Any]
    status: AuditStatus
    explained: int  # differing records
    unexplained: int


def build_result(pairs: list[Pair], window: Window) -> AuditResult:
    """Aggregate the pairs: per cell what each side holds and how much of the gap is (un)explained."""
    months = window.months()
    contrib, diffs = [], []
    for index, pair in enumerate(pairs):
        differs = pair.differs()
        for side, values in (("source", pair.source), ("hq", pair.hq)):
            for c, q in values.items():
                contrib.append(
                    {
                        "pair": index,
                        "side": side,
                        "kind": c.kind.value,
                        "person": c.person,
                        "scope": c.scope,
                        "scope_label": c.scope_label,
                        "month": c.month,
                        "qty": q,
                        "status": (pair.explanation.value if differs and pair.explanation else "match"),
                    }
                )
        if differs:
            explanation = pair.explanation or Explanation.UNEXPLAINED
            every = sorted(set(pair.source) | set(pair.hq), key=lambda c: (c.month, c.scope))
            gaps = [c for c in every if abs(pair.source.get(c, 0.0) - pair.hq.get(c, 0.0)) > 1e-6]
            # A record changed behind the sync's back without a gap in any cell is still listed.
            for c in gaps or every or ([pair.anchor] if pair.anchor else []):
                s, h = pair.source.get(c, 0.0), pair.hq.get(c, 0.0)
                diffs.append(
                    {
                        "kind": c.kind.value,
                        "person": c.person,
                        "scope": c.scope,
                        "scope_label": c.scope_label,
                        "month": c.month,
                        "source_qty": round(s, 4),
                        "hq_qty": round(h, 4),
                        "explanation": explanation.value,
                        "reason": pair.reason,
                        "detail": pair.detail,
                        "source_ref": pair.source_ref,
                        "hq_ref": pair.hq_ref,
                        "who": pair.who,
                        "pair": index,
                    }
                )
    columns = [*CELL_KEY, "pair", "side", "qty", "status"]
    frame = pd.DataFrame(contrib, columns=columns)
    frame = frame[frame["month"].isin(months)]
    differences = pd.DataFrame(
        diffs,
        columns=[
            *CELL_KEY,
            "source_qty",
            "hq_qty",
            "explanation",
            "reason",
            "detail",
            "source_ref",
            "hq_ref",
            "who",
            "pair",
        ],
    )
    differences = differences[differences["month"].isin(months)]
    if frame.empty:
        cells = pd.DataFrame(columns=[*CELL_KEY, "source_qty", "hq_qty", "explained_qty", "unexplained_qty"])
    else:
        frame["signed"] = frame["qty"].where(frame["side"] == "hq", -frame["qty"])
        sides = frame.pivot_table(index=CELL_KEY, columns="side", values="qty", aggfunc="sum", fill_value=0.0)
        gap_rows = frame[frame["status"] != "match"].assign(
            bucket=lambda f: f["status"].where(f["status"] == Explanation.UNEXPLAINED.value, "explained")
        )
        gap = gap_rows.pivot_table(index=CELL_KEY, columns="bucket", values="signed", aggfunc="sum", fill_value=0.0)
        cells = sides.join(gap, how="left").fillna(0.0).reset_index()
        for col in ("source", "hq", "explained", Explanation.UNEXPLAINED.value):
            if col not in cells:
                cells[col] = 0.0
        cells = cells.rename(
            columns={
                "source": "source_qty",
                "hq": "hq_qty",
                "explained": "explained_qty",
                Explanation.UNEXPLAINED.value: "unexplained_qty",
            }
        )
        cells = cells[[*CELL_KEY, "source_qty", "hq_qty", "explained_qty", "unexplained_qty"]]
        cells[["source_qty", "hq_qty", "explained_qty", "unexplained_qty"]] = (
            cells[["source_qty", "hq_qty", "explained_qty", "unexplained_qty"]].astype(float).round(4)
        )
        cells = cells.sort_values(CELL_KEY).reset_index(drop=True)
    differing = {int(p) for p in differences["pair"]}
    unexplained_pairs = {
        int(p) for p in differences.loc[differences["explanation"] == Explanation.UNEXPLAINED.value, "pair"]
    }
    totals: dict[str, Any] = {}
    for kind in AuditKind:
        k = kind.value
        kc = cells[cells["kind"] == k] if not cells.empty else cells
        kd = differences[differences["kind"] == k]
        totals[k] = {
            "unit": UNITS[k],
            "cells": int(len(kc)),
            "records": int(sum(1 for p in pairs if p.kind is kind)),
            "source": round(float(kc["source_qty"].sum()) if len(kc) else 0.0, 4),
            "hq": round(float(kc["hq_qty"].sum()) if len(kc) else 0.0, 4),
            "explained": int(kd.loc[kd["explanation"] != Explanation.UNEXPLAINED.value, "pair"].nunique()),
            "unexplained": int(kd.loc[kd["explanation"] == Explanation.UNEXPLAINED.value, "pair"].nunique()),
            "by_explanation": {e: int(n) for e, n in kd.groupby("explanation")["pair"].nunique().items()},
        }
    unexplained = len(unexplained_pairs)
    explained = len(differing - unexplained_pairs)
    status = AuditStatus.DRIFT if unexplained else AuditStatus.EXPLAINED if explained else AuditStatus.CLEAN
    return AuditResult(cells, differences.drop(columns=["pair"]), totals, status, explained, unexplained)


def store(
    conn: Connection,
    *,
    tenant: str,
    run_id: str,
    started_at: datetime,
    window: Window,
    reads: list[SourceRead],
    result: AuditResult,
) -> int:
    """Store (or replace, for a re-run) one audit; returns its id."""
    existing = conn.execute(
        select(audit_runs.c.id).where(audit_runs.c.tenant == tenant, audit_runs.c.run_id == run_id)
    ).scalar()
    if existing is not None:
        conn.execute(delete(audit_cells).where(audit_cells.c.audit_id == existing))
        conn.execute(delete(audit_differences).where(audit_differences.c.audit_id == existing))
        conn.execute(delete(audit_runs).where(audit_runs.c.id == existing))
    inserted = conn.execute(
        audit_runs.insert().values(
            tenant=tenant,
            run_id=run_id,
            started_at=started_at,
            finished_at=utcnow(),
            window_start=window.start,
            window_end=window.end,
            month=window.month,
            status=result.status.value,
            sources={r.source: r.as_dict() for r in reads},
            totals=result.totals,
            explained=result.explained,
            unexplained=result.unexplained,
        )
    ).inserted_primary_key
    assert inserted is not None
    audit_id = inserted[0]
    if not result.cells.empty:
        conn.execute(audit_cells.insert(), [{"audit_id": audit_id, **row} for row in _records(result.cells)])
    if not result.differences.empty:
        rows = _records(result.differences.astype(object).where(result.differences.notna(), None))
        conn.execute(audit_differences.insert(), [{"audit_id": audit_id, **row} for row in rows])
    return int(audit_id)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts keyed by column name."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


# -- reading back ---------------------------------------------------------------------------------
def audit_of_run(conn: Connection, tenant: str, run_id: str) -> Any:
    """The stored audit of one audit DAG run (None when its compare did not finish)."""
    return conn.execute(select(audit_runs).where(audit_runs.c.tenant == tenant, audit_runs.c.run_id == run_id)).first()


def first_unexplained(conn: Connection, audit_id: int, limit: int = 10) -> list[str]:
    """The details of an audit's first unexplained differences."""
    d = audit_differences
    query = (
        select(d.c.detail)
        .where(d.c.audit_id == audit_id, d.c.explanation == Explanation.UNEXPLAINED.value)
        .order_by(d.c.id)
        .limit(limit)
    )
    return [str(detail) for detail in conn.execute(query).scalars().all()]


def latest_audits(conn: Connection) -> dict[str, dict[str, Any]]:
    """The newest audit of every tenant (by start time), as dicts."""
    rows = conn.execute(
        select(audit_runs).order_by(audit_runs.c.tenant, audit_runs.c.started_at.desc(), audit_runs.c.id.desc())
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest.setdefault(row.tenant, dict(row._mapping))
    return latest


def audit_run(conn: Connection, tenant: str, audit_id: int | None = None) -> dict[str, Any] | None:
    """One audit of a tenant (default: the newest)."""
    query = select(audit_runs).where(audit_runs.c.tenant == tenant)
    query = (
        query.where(audit_runs.c.id == audit_id)
        if audit_id
        else query.order_by(audit_runs.c.started_at.desc(), audit_runs.c.id.desc())
    )
    row = conn.execute(query.limit(1)).first()
    return dict(row._mapping) if row else None


def frames(conn: Connection, audit_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored cells and differences of one audit."""
    cells = pd.read_sql(select(audit_cells).where(audit_cells.c.audit_id == audit_id).order_by(audit_cells.c.id), conn)
    diffs = pd.read_sql(
        select(audit_differences)
        .where(audit_differences.c.audit_id == audit_id)
        .order_by(audit_differences.c.explanation != Explanation.UNEXPLAINED.value, audit_differences.c.id),
        conn,
    )
    return cells.drop(columns=["id", "audit_id"]), diffs.drop(columns=["id", "audit_id"])


# -- export ---------------------------------------------------------------------------------------
CELL_HEADERS = {
    "kind": "Art",
    "person": "Person",
    "scope": "Projekt-/Typ-Id",
    "scope_label": "Projekt / Abwesenheitstyp",
    "month": "Monat",
    "source_qty": "Quelle",
    "hq_qty": "HQ",
    "explained_qty": "Differenz erklärt",
    "unexplained_qty": "Differenz unerklärt",
}
DIFF_HEADERS = {
    **CELL_HEADERS,
    "source_qty": "Quelle",
    "hq_qty": "HQ",
    "explanation": "Erklärung",
    "reason": "Grund",
    "detail": "Details",
    "source_ref": "Quell-Id",
    "hq_ref": "HQ-Id",
    "who": "Wer",
}


def to_csv(frame: pd.DataFrame, headers: dict[str, str]) -> bytes:
    """CSV as German Excel opens it: ';' between fields, ',' as decimal mark, UTF-8 with BOM."""
    out = frame.rename(columns=headers)
    return out.to_csv(sep=";", decimal=",", index=False).encode("utf-8-sig")


def to_xlsx(run: dict[str, Any], cells: pd.DataFrame, diffs: pd.DataFrame) -> bytes:
    """An Excel workbook: summary, hours, absence days, differences."""
    buffer = io.BytesIO()
    summary = [
        ("Mandant", run["tenant"]),
        ("Lauf", run["run_id"]),
        ("Zeitraum", f"{run['window_start']} – {run['window_end']}"),
        ("Ergebnis", run["status"]),
        ("Abweichungen erklärt", run["explained"]),
        ("Abweichungen unerklärt", run["unexplained"]),
    ]
    for kind, total in (run.get("totals") or {}).items():
        summary += [
            (f"{kind}: Quelle ({total['unit']})", total["source"]),
            (f"{kind}: HQ ({total['unit']})", total["hq"]),
        ]
    for source, info in (run.get("sources") or {}).items():
        summary.append((f"{source} gelesen aus", f"{info.get('mode')}: {info.get('why')}"))
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        pd.DataFrame(summary, columns=["", "Wert"]).to_excel(writer, sheet_name="Übersicht", index=False)
        for kind, sheet in ((AuditKind.HOURS.value, "Stunden"), (AuditKind.ABSENCE_DAYS.value, "Abwesenheitstage")):
            part = cells[cells["kind"] == kind].drop(columns=["kind"]) if not cells.empty else cells
            part.rename(columns=CELL_HEADERS).to_excel(writer, sheet_name=sheet, index=False)
        diffs.rename(columns=DIFF_HEADERS).to_excel(writer, sheet_name="Abweichungen", index=False)
        for ws in writer.book.worksheets:
            for column in ws.columns:
                width = max(len(str(c.value or "")) for c in column[:200])
                ws.column_dimensions[column[0].column_letter].width = min(max(10, width + 2), 80)
    return buffer.getvalue()

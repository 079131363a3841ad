"""The drift audit and the timesheet imports on the Sync status page (issue 16), self-contained.

- ``audit_section``: the table per tenant (last audit: window, how each source was read, totals,
  explained and unexplained differences) that the status page shows below its own table;
- ``/status/audit``: the drill-down to the differing records (filter by explanation), with
  CSV and Excel exports a finance team can open (``/status/audit.csv``, ``/status/audit.xlsx``);
- ``/timesheets``: per tenant with a ``timesheets`` source, the recent files (imported, refused
  and why, rows held back) and an upload form that drops a file into the tenant's folder.

``register_routes`` adds these endpoints to the plugin's FastAPI app; the plugin passes its own
authentication dependencies. Data comes from the staging database and the tenant files only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote, urlencode

import pandas as pd
from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, select_autoescape
from sqlalchemy import Connection, Engine

from hq_sync.audit.model import Explanation
from hq_sync.audit.report import CELL_HEADERS, DIFF_HEADERS, audit_run, frames, latest_audits, to_csv, to_xlsx
from hq_sync.config import TenantConfig, load_tenants
from hq_sync.staging.status_queries import recent_timesheet_files
from hq_sync.timeutil import parse_timestamp

_ENV = Environment(
    autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True, lstrip_blocks=True
)
MAX_UPLOAD_ROWS = 200  # recent files listed per tenant


def _when(value: Any) -> str:
    if not value:
        return "–"
    if isinstance(value, str):
        value = parse_timestamp(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def _num(value: Any) -> str:
    try:
        return f"{float(value):,.2f}".replace(",", " ").rstrip("0").rstrip(".")
    except (TypeError, ValueError):
        return "–"


_ENV.filters.update(when=_when, num=_num)

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px;color:#1a202c;font-size:14px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:20px 0 8px} .muted{color:#718096}
table{border-collapse:collapse;width:100%}\
 th,td{border-bottom:1px solid #e2e8f0;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#edf2f7;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums}
.tag{display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;color:#fff;background:#a0aec0}
.t-clean{background:#38a169}.t-explained{background:#3182ce}.t-drift{background:#e53e3e}.t-unexplained{background:#e53e3e}
.t-imported{background:#38a169}.t-refused{background:#e53e3e}.t-reading{background:#718096}
.banner{padding:8px 12px;border-radius:6px;margin:8px 0;background:#f0fff4;border:1px solid #9ae6b4}
.banner.err{background:#fff5f5;border-color:#feb2b2} a{color:#2b6cb0}
"""

_SECTION = _ENV.from_string("""
<h2 id="audit">Drift audit: does HQ still match the sources?</h2>
<div class="muted">Newest audit per tenant (daily DAG <code>audit__&lt;tenant&gt;</code>, or
<code>python -m hq_sync.ops.audit</code>). Hours per person, project and month (awork); absence days per person, type
and month (Personio). Unexplained differences are drift and fail the audit run.</div>
<table id="audit-table"><thead><tr><th>Tenant</th><th>Audit</th><th>Result</th><th>Window</th><th>Read from</th>
<th>Hours source / HQ</th><th>Absence days source / HQ</th><th>Explained</th><th>Unexplained</th><th>Details</th></tr>\
</thead><tbody>
{% for r in rows %}
<tr data-audit-tenant="{{ r.tenant.id }}" data-status="{{ r.run.status if r.run else 'none' }}">
<td><b>{{ r.tenant.display_name }}</b><br><span class="muted">{{ r.tenant.id }}</span></td>
{% if r.run %}
<td>{{ r.run.started_at | when }}<br><span class="muted">{{ r.run.run_id }}</span></td>
<td><span class="tag t-{{ r.run.status }}" data-field="status">{{ r.run.status }}</span></td>
<td>{{ r.run.window_start }} – {{ r.run.window_end }}{% if r.run.month %} ({{ r.run.month }}){% endif %}</td>
<td>{% for s, info in (r.run.sources or {}).items() %}<div title="{{ info.why }}">{{ s }}: {{ info.mode }}</div>\
{% endfor %}</td>
{% set h = (r.run.totals or {}).get('hours') %}{% set a = (r.run.totals or {}).get('absence_days') %}
<td class="n" data-field="hours">{% if h and h.records %}{{ h.source | num }} / {{ h.hq | num }}{% else %}–{% endif %}\
</td>
<td class="n" data-field="absence_days">{% if a and a.records %}{{ a.source | num }} / {{ a.hq | num }}{% else %}\
–{% endif %}</td>
<td class="n" data-field="explained" title="{% for k in (h, a) if k %}\
{% for e, n in k.by_explanation.items() if e != 'unexplained' %}{{ e }}: {{ n }} {% endfor %}{% endfor %}">\
{{ r.run.explained }}</td>
<td class="n" data-field="unexplained">{% if r.run.unexplained %}<b>{{ r.run.unexplained }}</b>\
{% else %}0{% endif %}</td>
<td><a href="{{ base }}/status/audit?tenant={{ r.tenant.id | urlencode }}">differences</a> ·
<a href="{{ base }}/status/audit.csv?tenant={{ r.tenant.id | urlencode }}">CSV</a> ·
<a href="{{ base }}/status/audit.xlsx?tenant={{ r.tenant.id | urlencode }}">Excel</a></td>
{% else %}
<td colspan="9" class="muted">no audit yet</td>
{% endif %}
</tr>
{% endfor %}
</tbody></table>
{% if timesheet_tenants %}<div style="margin-top:8px"><a href="{{ base }}/timesheets" id="timesheets-link">\
Timesheets: imports and upload</a>
({{ timesheet_tenants }} tenant(s))</div>{% endif %}
""")

_DRILL = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hq-sync drift audit: {{ tenant }}</title><style>{{ style }}</style>\
</head>
<body>
<div><a href="{{ base }}/status#audit">← sync status</a> · <a href="{{ base }}/status/audit.json?{{ q }}">JSON</a> ·
<a href="{{ base }}/status/audit.csv?{{ q }}">CSV (differences)</a>\
 · <a href="{{ base }}/status/audit.csv?{{ q }}&amp;table=cells">CSV (table)</a> ·
<a href="{{ base }}/status/audit.xlsx?{{ q }}">Excel</a></div>
<h1>Drift audit: {{ tenant }}</h1>
{% if not run %}<p class="muted">No audit has run for this tenant yet.</p>{% else %}
<div class="muted">Run {{ run.run_id }} · {{ run.started_at | when }} · window {{ run.window_start }}\
 – {{ run.window_end }} ·
result <span class="tag t-{{ run.status }}" id="status">{{ run.status }}</span> ·
<span id="explained">{{ run.explained }}</span> explained, <span id="unexplained">{{ run.unexplained }}</span>\
 unexplained difference(s)</div>
<div class="muted">{% for s, info in (run.sources or {}).items() %}{{ s }} read from {{ info.mode }} ({{ info.why }}\
; {{ info.records }} records, {{ info.requests }} requests). {% endfor %}</div>
<p>Show: <a href="?tenant={{ tenant | urlencode }}">all</a>\
{% for e in explanations %} · <a href="?tenant={{ tenant | urlencode }}&amp;explanation={{ e }}">{{ e }}</a>\
{% endfor %}</p>
<h2>Differing records{% if only %}: {{ only }}{% endif %} (<span id="count">{{ diffs | length }}</span>)</h2>
<table id="differences"><thead><tr><th>Explanation</th><th>Person</th><th>Project / type</th><th>Month</th><th>\
Source</th><th>HQ</th>
<th>Why</th><th>Source id</th><th>HQ id</th><th>Who</th></tr></thead><tbody>
{% for d in diffs %}
<tr data-explanation="{{ d.explanation }}" data-hq-ref="{{ d.hq_ref or '' }}\
" data-source-ref="{{ d.source_ref or '' }}">
<td><span class="tag t-{{ d.explanation }}">{{ d.explanation }}</span><br><code>{{ d.reason or '' }}</code></td>
<td>{{ d.person }}</td><td>{{ d.scope_label }}</td><td>{{ d.month }}</td>
<td class="n">{{ d.source_qty | num }} {{ units[d.kind] }}</td><td class="n">\
{{ d.hq_qty | num }} {{ units[d.kind] }}</td>
<td>{{ d.detail }}</td><td><code>{{ d.source_ref or '–' }}</code></td><td><code>{{ d.hq_ref or '–' }}</code></td><td>\
{{ d.who or '–' }}</td></tr>
{% endfor %}
</tbody></table>
<h2>Per person, project/type and month (cells with a difference)</h2>
<table id="cells"><thead><tr><th>Kind</th><th>Person</th><th>Project / type</th><th>Month</th><th>Source</th><th>HQ</th>
<th>Explained</th><th>Unexplained</th></tr></thead><tbody>
{% for c in cells %}
<tr data-kind="{{ c.kind }}"><td>{{ c.kind }}</td><td>{{ c.person }}</td><td>{{ c.scope_label }}</td><td>\
{{ c.month }}</td>
<td class="n">{{ c.source_qty | num }}</td><td class="n">{{ c.hq_qty | num }}</td><td class="n">\
{{ c.explained_qty | num }}</td>
<td class="n">{{ c.unexplained_qty | num }}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}
</body></html>
""")

_TIMESHEETS = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hq-sync timesheets</title><style>{{ style }}</style></head>
<body>
<div><a href="{{ base }}/status">← sync status</a> · <a href="{{ base }}/timesheets.json">JSON</a></div>
<h1>Timesheets → HQ reportings</h1>
<div class="muted">Drop Excel (.xlsx) or CSV files into a tenant's folder, or upload them here: each file starts its own
import run (<code>timesheet_import__&lt;tenant&gt;</code>). Rules: docs/timesheets.md.</div>
{% if message %}<div class="banner {{ 'err' if error }}" id="message">{{ message }}</div>{% endif %}
{% for t in tenants %}
<h2 id="t-{{ t.id }}">{{ t.display_name }} <span class="muted">({{ t.id }})</span></h2>
<div class="muted">Folder: <code>{{ t.folder }}</code> · at most {{ t.max_mb }} MB per file</div>
<form method="post" action="{{ base }}/timesheets/upload" enctype="multipart/form-data" data-upload="{{ t.id }}">
<input type="hidden" name="tenant" value="{{ t.id }}"><input type="file" name="file" accept=".xlsx,.csv,.txt" required>
<button type="submit">Upload</button></form>
<table class="files" data-tenant="{{ t.id }}"><thead><tr><th>Received</th><th>File</th><th>Status</th><th>Rows</th>\
<th>Held back</th>
<th>Created / updated / deleted / unchanged</th><th>Run</th></tr></thead><tbody>
{% for f in t.files %}
<tr data-file="{{ f.name }}" data-status="{{ f.status }}"><td>{{ f.received_at | when }}</td><td>{{ f.name }}</td>
<td><span class="tag t-{{ f.status }}">{{ f.status }}</span>{% if f.error %}<div class="muted">{{ f.error }}</div>\
{% endif %}</td>
<td class="n">{{ f.rows if f.rows is not none else '–' }}</td>
<td class="n">{% if f.held %}<a href="{{ base }}/status/quarantine?tenant={{ t.id | urlencode }}\
&amp;source=timesheets">{{ f.held }}</a>{% else %}{{ f.held if f.held is not none else '–' }}{% endif %}</td>
<td>{% if f.summary %}{{ f.summary.created }} / {{ f.summary.updated }} / {{ f.summary.deleted }}\
 / {{ f.summary.skipped }}{% else %}–{% endif %}</td>
<td><a target="_top" href="{{ ui_base }}/dags/{{ t.dag_id }}/runs/{{ f.run_id | urlencode }}">{{ f.run_id }}</a></td>\
</tr>
{% else %}<tr><td colspan="7" class="muted">no file yet</td></tr>{% endfor %}
</tbody></table>
{% else %}<p class="muted">No tenant has a <code>timesheets</code> source.</p>{% endfor %}
</body></html>
""")

UNITS = {"hours": "h", "absence_days": "d"}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _run_dict(run: dict[str, Any]) -> dict[str, Any]:
    out = dict(run)
    for key in ("sources", "totals", "summary"):
        if key in out:
            out[key] = _json(out[key])
    for key, value in list(out.items()):
        if isinstance(value, datetime):
            out[key] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        elif isinstance(value, date):
            out[key] = value.isoformat()
    return out


def audit_section(engine: Engine, *, base: str = "", tenants: list[TenantConfig] | None = None) -> str:
    """The audit table of every tenant with an audit (HTML fragment for the status page)."""
    tenants = (
        tenants if tenants is not None else load_tenants(last_valid=True).tenants
    )  # a broken file: its last valid copy (issue 15)
    with engine.connect() as conn:
        latest = latest_audits(conn)
    rows = [
        {"tenant": t, "run": _run_dict(latest[t.id]) if t.id in latest else None}
        for t in sorted(tenants, key=lambda t: t.id)
        if t.audited_sources() or t.id in latest
    ]
    sheets = sum(1 for t in tenants if "timesheets" in t.enabled_sources())
    return _SECTION.render(rows=rows, base=base, timesheet_tenants=sheets)


def audit_details(
    conn: Connection, tenant: str, explanation: str | None = None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]:
    """The newest audit of a tenant: the run, its differing records (optionally of one
    explanation) and the cells with a difference."""
    run = audit_run(conn, tenant)
    if run is None:
        return None, [], []
    cells, diffs = frames(conn, int(run["id"]))
    if explanation:
        diffs = diffs[diffs["explanation"] == explanation]
    gaps = (
        cells[(cells["explained_qty"].abs() > 1e-9) | (cells["unexplained_qty"].abs() > 1e-9)]
        if not cells.empty
        else cells
    )
    return _run_dict(run), _clean_records(diffs), _clean_records(gaps)


def _clean_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts, missing values as None (JSON- and template-friendly)."""
    return [
        {str(k): v for k, v in row.items()}
        for row in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]


def timesheet_tenants(engine: Engine, tenants: list[TenantConfig] | None = None) -> list[dict[str, Any]]:
    """Every tenant with a timesheets source: its folder and recent files (newest first)."""
    from hq_sync.timesheets.files import folder_of

    tenants = tenants if tenants is not None else load_tenants(last_valid=True).tenants
    out = []
    with engine.connect() as conn:
        for t in sorted(tenants, key=lambda t: t.id):
            cfg = t.sources.timesheets
            if cfg is None or "timesheets" not in t.enabled_sources():
                continue
            files = [_run_dict(asdict(f)) for f in recent_timesheet_files(conn, t.id, MAX_UPLOAD_ROWS)]
            out.append(
                {
                    "id": t.id,
                    "display_name": t.display_name,
                    "folder": str(folder_of(t)),
                    "max_mb": f"{cfg.max_file_mb:g}",
                    "dag_id": t.dag_id("timesheets"),
                    "files": files,
                }
            )
    return out


def register_routes(
    app: FastAPI,
    *,
    reader: Callable[..., Any],
    writer: Callable[..., Any],
    engine: Callable[[], Engine],
    prefix: str,
    ui_base: Callable[[], str] = lambda: "",
) -> None:
    """Add the audit drill-down/exports and the timesheet page/upload to the plugin's app.

    ``reader``/``writer``: FastAPI dependencies that authenticate the user and check that they may
    read DAGs / trigger DAG runs (the plugin's own, Airflow's auth manager).
    """
    _register_audit_routes(app, reader=reader, engine=engine, prefix=prefix)
    _register_timesheet_routes(app, reader=reader, writer=writer, engine=engine, prefix=prefix, ui_base=ui_base)


def _details(
    engine: Callable[[], Engine], tenant: str, explanation: str | None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]]]:
    with engine().connect() as conn:
        return audit_details(conn, tenant, explanation or None)


def _newest(engine: Callable[[], Engine], tenant: str) -> tuple[dict[str, Any], Any, Any]:
    """The newest audit of a tenant and its tables; 404 when it has none."""
    with engine().connect() as conn:
        run = audit_run(conn, tenant)
        if run is None:
            raise HTTPException(status_code=404, detail=f"no audit of tenant {tenant!r} yet")
        cells, diffs = frames(conn, int(run["id"]))
    return _run_dict(run), cells, diffs


def _filename(run: dict[str, Any], ext: str) -> str:
    return quote(f"hq-sync-audit-{run['tenant']}-{str(run['started_at'])[:10]}.{ext}")


def _register_audit_routes(
    app: FastAPI, *, reader: Callable[..., Any], engine: Callable[[], Engine], prefix: str
) -> None:
    """The drill-down (HTML, JSON) and the CSV and Excel exports of a tenant's newest audit."""

    @app.get("/status/audit", response_class=HTMLResponse)
    def audit_page(tenant: str, explanation: str | None = None, user: Any = Depends(reader)) -> HTMLResponse:
        run, diffs, cells = _details(engine, tenant, explanation)
        return HTMLResponse(
            _DRILL.render(
                run=run,
                diffs=diffs,
                cells=cells,
                tenant=tenant,
                only=explanation,
                base=prefix,
                style=STYLE,
                units=UNITS,
                q=urlencode({"tenant": tenant}),
                explanations=[e.value for e in Explanation],
            )
        )

    @app.get("/status/audit.json")
    def audit_json(tenant: str, explanation: str | None = None, user: Any = Depends(reader)) -> JSONResponse:
        run, diffs, cells = _details(engine, tenant, explanation)
        return JSONResponse({"tenant": tenant, "audit": run, "differences": diffs, "cells": cells})

    @app.get("/status/audit.csv")
    def audit_csv(
        tenant: str, table: str = Query("differences", pattern="^(differences|cells)$"), user: Any = Depends(reader)
    ) -> Response:
        run, cells, diffs = _newest(engine, tenant)
        body = to_csv(cells, CELL_HEADERS) if table == "cells" else to_csv(diffs, DIFF_HEADERS)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_filename(run, table + '.csv')}"},
        )

    @app.get("/status/audit.xlsx")
    def audit_xlsx(tenant: str, user: Any = Depends(reader)) -> Response:
        run, cells, diffs = _newest(engine, tenant)
        return Response(
            to_xlsx(run, cells, diffs),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_filename(run, 'xlsx')}"},
        )


def _register_timesheet_routes(
    app: FastAPI,
    *,
    reader: Callable[..., Any],
    writer: Callable[..., Any],
    engine: Callable[[], Engine],
    prefix: str,
    ui_base: Callable[[], str],
) -> None:
    """The timesheet page (HTML, JSON) and the upload into a tenant's folder."""

    @app.get("/timesheets", response_class=HTMLResponse)
    def timesheets_page(
        uploaded: str | None = None, refused: str | None = None, user: Any = Depends(reader)
    ) -> HTMLResponse:
        message = f"{uploaded} uploaded: its import starts when the watcher sees it (seconds)." if uploaded else refused
        return HTMLResponse(
            _TIMESHEETS.render(
                tenants=timesheet_tenants(engine()),
                base=prefix,
                ui_base=ui_base(),
                style=STYLE,
                message=message,
                error=bool(refused),
            )
        )

    @app.get("/timesheets.json")
    def timesheets_json(user: Any = Depends(reader)) -> JSONResponse:
        return JSONResponse({"tenants": timesheet_tenants(engine())})

    @app.post("/timesheets/upload")
    async def upload(
        request: Request, tenant: str = Form(...), file: UploadFile = File(...), user: Any = Depends(writer)
    ) -> Response:
        return await _upload(request, tenant, file, prefix)


def _upload_answer(wants_json: bool, prefix: str, status: int, message: str, name: str | None = None) -> Response:
    """The upload's answer: JSON for a script, else back to the timesheet page with a message."""
    if wants_json:
        return JSONResponse({"detail" if status >= 400 else "uploaded": message, "file": name}, status_code=status)
    key = "refused" if status >= 400 else "uploaded"
    return RedirectResponse(
        f"{prefix}/timesheets?{urlencode({key: name if status < 400 else message})}", status_code=303
    )


async def _upload(request: Request, tenant: str, file: UploadFile, prefix: str) -> Response:
    """Check an uploaded timesheet (origin, tenant, size) and drop it into the tenant's folder."""
    from hq_sync.timesheets.files import folder_of, save_upload

    wants_json = "application/json" in request.headers.get("accept", "")
    origin = request.headers.get("origin")
    if origin and origin.split("://", 1)[-1] != request.url.netloc:
        raise HTTPException(status_code=403, detail="uploads are accepted from the Sync status page only")
    found = [t for t in load_tenants(only=tenant, last_valid=True).tenants if t.id == tenant]
    cfg = found[0].sources.timesheets if found else None
    if cfg is None or "timesheets" not in found[0].enabled_sources():
        return _upload_answer(wants_json, prefix, 404, f"tenant {tenant!r} has no timesheets source")
    limit = int(cfg.max_file_mb * 1024 * 1024)
    content = await file.read(limit + 1)
    name = file.filename or "timesheet"
    if len(content) > limit:
        message = f"{name} is larger than {cfg.max_file_mb:g} MB (sources.timesheets.max_file_mb): not uploaded"
        return _upload_answer(wants_json, prefix, 413, message, name)
    if not content:
        return _upload_answer(wants_json, prefix, 400, f"{name} is empty: not uploaded", name)
    saved = save_upload(folder_of(found[0]), name, content)
    return _upload_answer(wants_json, prefix, 201 if wants_json else 303, str(saved), saved.name)

"""HTML of the sync status page and of the quarantine drill-down (Jinja2, autoescaped).

Plain server-rendered HTML with a little inline CSS and a client-side filter: no build step, no
external assets (the page is embedded in the Airflow UI as an iframe). Every number a person sees
carries a ``data-*`` attribute naming what it is, so tests can read the page as a person does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, select_autoescape

from hq_sync.ops.status import COUNT_FIELDS, StatusReport

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True, lstrip_blocks=True)


def _when(value: Any) -> str:
    """A time stamp as 'YYYY-MM-DD HH:MM UTC' (input: ISO string or datetime)."""
    if not value:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _age(days: float) -> str:
    if days < 1:
        hours = int(days * 24)
        return f"{hours} h" if hours else "< 1 h"
    return f"{days:.0f} d" if days >= 10 else f"{days:.1f} d"


_ENV.filters.update(when=_when, duration=_duration, age=_age)

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px;color:#1a202c;font-size:14px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:20px 0 8px}
.muted{color:#718096} .chips{display:flex;gap:8px;flex-wrap:wrap;margin:12px 0}
.chip{border:1px solid #cbd5e0;border-radius:6px;padding:6px 10px;background:#f7fafc}
.chip b{font-size:16px} .bad{background:#fff5f5;border-color:#feb2b2} .warn{background:#fffaf0;border-color:#fbd38d}
table{border-collapse:collapse;width:100%} th,td{border-bottom:1px solid #e2e8f0;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#edf2f7;position:sticky;top:0;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums}
.state{display:inline-block;border-radius:4px;padding:0 6px;color:#fff;font-size:12px}
.s-success{background:#38a169}.s-failed{background:#e53e3e}.s-running{background:#3182ce}.s-queued{background:#718096}
.s-none{background:#a0aec0}.s-upstream_failed{background:#dd6b20}
.banner{padding:8px 12px;border-radius:6px;margin:8px 0} .banner.err{background:#fff5f5;border:1px solid #feb2b2}
ul.q{margin:0;padding-left:16px} a{color:#2b6cb0} tr.attn td:first-child{border-left:3px solid #e53e3e}
input[type=search]{padding:4px 8px;width:260px} label{margin-left:12px}
"""

_PAGE = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hq-sync status</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{{ style }}</style></head>
<body>
<h1>hq-sync: sync status</h1>
<div class="muted">Generated {{ report.generated_at | when }} · counts from the staging database, runs from Airflow's REST API ·
<a href="{{ json_url }}">JSON</a></div>
{% if report.airflow_error %}<div class="banner err" id="airflow-error">Airflow's REST API could not be read, so run states are missing: {{ report.airflow_error }}</div>{% endif %}
<div class="chips" id="totals">
 <div class="chip">Tenants <b data-total="tenants">{{ totals.tenants }}</b></div>
 <div class="chip">DAGs <b data-total="dags">{{ totals.dags }}</b></div>
 <div class="chip {{ 'bad' if totals.failed_last_run }}">Last run failed <b data-total="failed_last_run">{{ totals.failed_last_run }}</b></div>
 <div class="chip">Running / queued <b data-total="running">{{ totals.running }}</b></div>
 <div class="chip {{ 'warn' if totals.open_quarantine }}">Open quarantine <b data-total="open_quarantine">{{ totals.open_quarantine }}</b></div>
 <div class="chip {{ 'warn' if totals.conflicts_last_run or totals.open_conflicts }}">Conflicts (last runs / open) <b data-total="conflicts_last_run">{{ totals.conflicts_last_run }}</b> / <b data-total="open_conflicts">{{ totals.open_conflicts }}</b></div>
 <div class="chip {{ 'bad' if totals.config_errors }}">Broken tenant files <b data-total="config_errors">{{ totals.config_errors }}</b></div>
</div>

{% if report.config_errors %}
<h2>Tenants whose config is broken</h2>
<table id="config-errors"><thead><tr><th>File</th><th>Problems</th><th>DAG</th></tr></thead><tbody>
{% for e in report.config_errors %}
<tr data-config-error="{{ e.file }}"><td>include/tenants/{{ e.file }}</td>
<td><ul class="q">{% for p in e.problems %}<li><code>{{ p.field }}</code>: {{ p.reason }}</li>{% endfor %}</ul></td>
<td><a target="_top" href="{{ ui_base }}/dags/{{ e.dag_id }}">{{ e.dag_id }}</a></td></tr>
{% endfor %}
</tbody></table>
{% endif %}

<h2>Tenants and sources</h2>
<div><input type="search" id="filter" placeholder="filter: tenant, source, state, reason"
 oninput="filterRows()"><label><input type="checkbox" id="attn" onchange="filterRows()"> only those needing attention</label>
 <span class="muted" id="shown"></span></div>
<table id="status"><thead><tr>
<th>Tenant</th><th>Source</th><th>Last run</th><th>Duration</th><th>Next run</th>
{% for f in count_fields %}<th>{{ f | capitalize }}</th>{% endfor %}
<th>Open quarantine (by reason, age of oldest)</th></tr></thead><tbody>
{% for t in report.tenants %}{% for s in t.sources %}
<tr data-tenant="{{ s.tenant }}" data-source="{{ s.source }}" data-state="{{ s.last_run.state if s.last_run else 'none' }}"
 class="{{ 'attn' if s.needs_attention }}" data-attn="{{ 1 if s.needs_attention else 0 }}">
<td title="{{ t.id }}"><b>{{ t.display_name }}</b><br><span class="muted">{{ t.id }}</span></td>
<td>{{ s.source }}</td>
<td data-field="last_run">{% if s.last_run %}<span class="state s-{{ s.last_run.state }}" data-field="state">{{ s.last_run.state }}</span>
 <a target="_top" href="{{ s.last_run.grid_url }}" title="{{ s.last_run.run_id }}">{{ (s.last_run.start_date or s.last_run.run_after) | when }}</a>
 {% if s.last_run.run_type and s.last_run.run_type != 'scheduled' %}<span class="muted">({{ s.last_run.run_type }})</span>{% endif %}
{% if s.run_note %}{% set n = s.run_note %}<div class="run-note" data-field="run_note" data-kind="{{ n.kind }}"><b>{{ n.label }}</b>{% if n.try_number and n.kind != 'lock' %} ({{ n.task_id }}, try {{ n.try_number }}{% if n.max_tries %} of {{ n.max_tries }}{% endif %}){% endif %}: {{ n.reason }}{% if n.retry_at %}; next try not before {{ n.retry_at | when }}{% endif %}</div>{% endif %}
{% elif not s.in_airflow %}<span class="muted">not in Airflow (yet)</span>{% else %}<span class="state s-none" data-field="state">no run</span>{% endif %}</td>
<td data-field="duration">{{ s.last_run.duration_s | duration if s.last_run else '–' }}</td>
<td data-field="next_run">{% if s.paused %}<span class="muted">paused</span>{% else %}{{ s.next_run | when }}{% endif %}</td>
{% for f in count_fields %}<td class="n" data-count="{{ f }}">{{ s.counts[f] }}</td>{% endfor %}
<td>{% if s.quarantine %}<ul class="q">{% for g in s.quarantine %}
<li data-reason="{{ g.reason }}"><a href="{{ drill(s.tenant, s.source, g.reason) }}"><code>{{ g.reason }}</code>: <span data-field="count">{{ g.count }}</span></a>
 <span class="muted">(oldest {{ g.age_days | age }})</span></li>{% endfor %}</ul>
{% else %}<span class="muted">none</span>{% endif %}
{% if s.counts_run_id and not s.counts_are_of_last_run %}<div class="muted" title="{{ s.counts_run_id }}">counts from the last run that reported ({{ s.counts_recorded_at | when }})</div>{% endif %}
</td></tr>
{% endfor %}{% endfor %}
</tbody></table>
{% for section in extra_sections %}{{ section | safe }}{% endfor %}
<script>
function filterRows(){
  var q=document.getElementById('filter').value.toLowerCase(), a=document.getElementById('attn').checked, n=0;
  document.querySelectorAll('#status tbody tr').forEach(function(r){
    var ok=(!q||r.textContent.toLowerCase().indexOf(q)>=0||r.dataset.state===q)&&(!a||r.dataset.attn==='1');
    r.style.display=ok?'':'none'; if(ok)n++;});
  document.getElementById('shown').textContent=n+' shown';
}
</script>
</body></html>
""")

_DRILL = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hq-sync quarantine: {{ tenant }}</title><style>{{ style }}</style></head>
<body>
<div><a href="{{ back_url }}">← sync status</a> · <a href="{{ json_url }}">JSON</a></div>
<h1>Open quarantine: {{ tenant }}{% if source %} / {{ source }}{% endif %}{% if reason %} / <code>{{ reason }}</code>{% endif %}</h1>
<div class="muted"><span id="count">{{ items | length }}</span> open item(s), oldest first. They are retried every run and leave quarantine by themselves once fixed.</div>
<table id="items"><thead><tr><th>Since</th><th>Who</th><th>What</th><th>Why</th><th>Last seen</th><th>Last run</th></tr></thead><tbody>
{% for i in items %}
<tr data-source-id="{{ i.source_id }}"><td>{{ i.since | when }}</td><td>{{ i.who or '–' }}</td>
<td>{{ i.source }} {{ i.entity }} <code>{{ i.source_id }}</code>{% if i.context %}<br><span class="muted">{% for k, v in i.context.items() if k != 'booked' %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</span>{% endif %}</td>
<td><code>{{ i.reason }}</code>: {{ i.detail }}</td><td>{{ i.last_seen | when }}</td><td class="muted">{{ i.last_run_id or '–' }}</td></tr>
{% endfor %}
</tbody></table></body></html>
""")


def render_status(report: StatusReport, *, base: str = "", ui_base: str = "", extra_sections: list[str] | None = None) -> str:
    """The status page. ``base``: where the plugin app is mounted (e.g. ``/hq-sync``);
    ``extra_sections``: HTML fragments rendered below the table (e.g. the drift audit)."""

    def drill(tenant: str, source: str, reason: str) -> str:
        return f"{base}/status/quarantine?" + urlencode({"tenant": tenant, "source": source, "reason": reason})

    return _PAGE.render(
        report=report, totals=report.totals(), style=_STYLE, count_fields=COUNT_FIELDS, drill=drill,
        json_url=f"{base}/status.json", ui_base=ui_base, extra_sections=extra_sections or [],
    )


def render_quarantine(
    items: list[dict[str, Any]], *, tenant: str, source: str | None, reason: str | None, base: str = ""
) -> str:
    query = urlencode({k: v for k, v in {"tenant": tenant, "source": source, "reason": reason}.items() if v})
    return _DRILL.render(
        items=items, tenant=tenant, source=source, reason=reason, style=_STYLE,
        back_url=f"{base}/status", json_url=f"{base}/status/quarantine.json?{query}",
    )

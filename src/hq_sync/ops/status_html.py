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
from markupsafe import Markup

from hq_sync.ops.history import RunPoint, SourceHistory
from hq_sync.ops.status import CauseGroup, StatusReport
from hq_sync.staging.reasons import QuarantineOutcome, reason_info
from hq_sync.staging.states import COUNT_FIELDS
from hq_sync.timeutil import parse_timestamp

_ENV = Environment(
    autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True, lstrip_blocks=True
)


def _when(value: Any) -> str:
    """A time stamp as 'YYYY-MM-DD HH:MM UTC' (input: ISO string or datetime)."""
    if not value:
        return "–"
    moment: datetime | None = parse_timestamp(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "–"


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
table{border-collapse:collapse;width:100%} th,td{border-bottom:1px solid #e2e8f0;padding:4px\
 6px;text-align:left;vertical-align:top}
th{background:#edf2f7;position:sticky;top:0;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums}
.state{display:inline-block;border-radius:4px;padding:0 6px;color:#fff;font-size:12px}
.s-success{background:#38a169}.s-failed{background:#e53e3e}.s-running{background:#3182ce}.s-queued{background:#718096}
.s-none{background:#a0aec0}.s-upstream_failed{background:#dd6b20}
.banner{padding:8px 12px;border-radius:6px;margin:8px 0} .banner.err{background:#fff5f5;border:1px solid #feb2b2}
ul.q{margin:0;padding-left:16px} a{color:#2b6cb0} tr.attn td:first-child{border-left:3px solid #e53e3e}
input[type=search]{padding:4px 8px;width:260px} label{margin-left:12px}
.note{font-size:12px;border-radius:4px;padding:2px 6px;margin-top:4px} .note.err{background:#fff5f5;border:1px solid\
 #feb2b2}
.note.retry{background:#fffaf0;border:1px solid #fbd38d} ul.w li{color:#4a5568}
details{margin:2px 0} summary{cursor:pointer} .cause td{background:#f7fafc} .late{color:#c53030}
"""

# Links to Airflow's own pages. The UI shows this page in a sandboxed iframe that may not navigate
# the top window, so inside the UI a click moves the UI's router instead (same origin); outside
# it the link works as usual.
_UI_LINK_JS = """
document.addEventListener('click',function(e){
  var a=e.target.closest&&e.target.closest('a.ui'); if(!a||window.top===window)return;
  try{window.top.history.pushState({},'',a.getAttribute('href'));
      window.top.dispatchEvent(new PopStateEvent('popstate',{state:{}})); e.preventDefault();}catch(err){}
});
"""

_PAGE = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hq-sync status</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{{ style }}</style></head>
<body>
<h1>hq-sync: sync status</h1>
<div class="muted">Generated {{ report.generated_at | when }} · counts from the staging database, runs from Airflow's\
 REST API ·
<a href="{{ json_url }}">JSON</a></div>
{% if report.airflow_error %}<div class="banner err" id="airflow-error">Airflow's REST API could not be read, so run\
 states are missing: {{ report.airflow_error }}</div>{% endif %}
<div class="chips" id="totals">
 <div class="chip">Tenants <b data-total="tenants">{{ totals.tenants }}</b></div>
 <div class="chip">DAGs <b data-total="dags">{{ totals.dags }}</b></div>
 <div class="chip {{ 'bad' if totals.failed_last_run }}">Last run failed \
<b data-total="failed_last_run">{{ totals.failed_last_run }}</b></div>
 <div class="chip">Running / queued <b data-total="running">{{ totals.running }}</b></div>
 <div class="chip {{ 'warn' if totals.held_back }}" title="records not written to HQ; released once their cause is\
 fixed">Held back (not in HQ) <b data-total="held_back">{{ totals.held_back }}</b></div>
 <div class="chip" title="records written to HQ, with a note (open quarantine in all:\
 {{ totals.open_quarantine }})">Written with a warning \
<b data-total="written_with_warning">{{ totals.written_with_warning }}</b></div>
 <div class="chip {{ 'warn' if totals.conflicts_last_run or totals.open_conflicts }}">Conflicts (last runs / open) \
<b data-total="conflicts_last_run">{{ totals.conflicts_last_run }}</b> / \
<b data-total="open_conflicts">{{ totals.open_conflicts }}</b></div>
 <div class="chip {{ 'bad' if totals.config_errors }}">Broken tenant files \
<b data-total="config_errors">{{ totals.config_errors }}</b></div>
</div>

{% if report.config_errors %}
<h2>Tenants whose config is broken</h2>
<table id="config-errors"><thead><tr><th>File</th><th>Problems</th><th>Syncing</th></tr></thead><tbody>
{% for e in report.config_errors %}
<tr data-config-error="{{ e.file }}"><td>include/tenants/{{ e.file }}</td>
<td><ul class="q">{% for p in e.problems %}<li><code>{{ p.field }}</code>: {{ p.reason }}</li>{% endfor %}</ul></td>
<td>{% if e.last_valid_from %}<span data-field="last_valid">running on the last valid configuration from\
 {{ e.last_valid_from | when }}</span>
{% else %}<a class="ui" target="_top" href="{{ ui_base }}/dags/{{ e.dag_id }}">{{ e.dag_id }}</a>{% endif %}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}

<h2>Tenants and sources</h2>
<div><input type="search" id="filter" placeholder="filter: tenant, source, state, reason"
 oninput="filterRows()"><label><input type="checkbox" id="attn" onchange="filterRows()"> only those needing attention\
</label>
 <span class="muted" id="shown"></span></div>
<table id="status"><thead><tr>
<th>Tenant</th><th>Source</th><th>Last run</th><th>Duration</th><th>Next run</th>\
<th title="time since the last successful run">Fresh</th>
{% for f in count_fields %}<th>{{ f | capitalize }}</th>{% endfor %}
<th>Held back, not in HQ (by reason, age of oldest)</th><th>Written with a warning</th></tr></thead><tbody>
{% for t in report.tenants %}{% for s in t.sources %}
<tr data-tenant="{{ s.tenant }}" data-source="{{ s.source }}"\
 data-state="{{ s.last_run.state if s.last_run else 'none' }}"
 class="{{ 'attn' if s.needs_attention }}" data-attn="{{ 1 if s.needs_attention else 0 }}">
<td title="{{ t.id }}"><b>{{ t.display_name }}</b><br><span class="muted">{{ t.id }}</span>
· <a href="{{ charts(s.tenant, s.source) }}" data-field="charts">charts</a>
{% if t.config_error %}<div class="note err" data-field="config_error">tenant file broken:
{% for p in t.config_error.problems %}<code>{{ p.field }}\
</code>: {{ p.reason }}{% if not loop.last %}; {% endif %}{% endfor %}<br>
{% if t.config_error.last_valid_from %}\
<span data-field="last_valid">running on the last valid configuration from {{ t.config_error.last_valid_from | when }}\
</span>
{% else %}not syncing: no last valid configuration{% endif %}</div>{% endif %}</td>
<td>{{ s.source }}</td>
<td data-field="last_run">{% if s.last_run %}\
<span class="state s-{{ s.last_run.state }}" data-field="state">{{ s.last_run.state }}</span>
 <a class="ui" target="_top" href="{{ s.last_run.grid_url }}"\
 title="{{ s.last_run.run_id }}">{{ (s.last_run.start_date or s.last_run.run_after) | when }}</a>
 {% if s.last_run.run_type and s.last_run.run_type != 'scheduled' %}<span class="muted">({{ s.last_run.run_type }})\
</span>{% endif %}
{% if s.run_note %}{% set n = s.run_note %}<div class="run-note" data-field="run_note" data-kind="{{ n.kind }}">\
<b>{{ n.label }}</b>{% if n.try_number and n.kind != 'lock' %} ({{ n.task_id }}, try\
 {{ n.try_number }}{% if n.max_tries %} of {{ n.max_tries }}{% endif %}){% endif %}:\
 {{ n.reason }}{% if n.retry_at %}; next try not before {{ n.retry_at | when }}{% endif %}</div>{% endif %}
{% elif not s.in_airflow %}<span class="muted">not in Airflow (yet)</span>{% else %}\
<span class="state s-none" data-field="state">no run</span>{% endif %}</td>
<td data-field="duration">{{ s.last_run.duration_s | duration if s.last_run else '–' }}</td>
<td data-field="next_run">{% if s.paused %}<span class="muted">paused\
</span>{% else %}{{ s.next_run | when }}{% endif %}</td>
{% set f = s.freshness %}<td data-field="freshness"\
 data-state="{{ f.state if f else 'never' }}">{% if f and f.age_s is not none %}\
<span class="{{ 'late' if f.state == 'late' }}"
 title="last successful run {{ f.last_success_at | when }}{% if f.interval_s %}; schedule every\
 {{ f.interval_s | duration }}{% endif %}">{{ f.age_s | duration }} ago</span>{% if f.state == 'late' %} \
<b class="late">late</b>{% endif %}{% else %}<span class="muted">never</span>{% endif %}</td>
{% for f in count_fields %}<td class="n" data-count="{{ f }}">{{ s.counts[f] }}</td>{% endfor %}
<td data-field="held_back">{% if s.held_back %}<ul class="q">{% for g in s.quarantine if g.outcome == 'held_back' %}
<li data-reason="{{ g.reason }}" data-outcome="held_back"><a href="{{ drill(s.tenant, s.source, g.reason) }}">\
<code>{{ g.reason }}</code>: <span data-field="count">{{ g.count }}</span></a>
 <span class="muted">(oldest {{ g.age_days | age }})</span></li>{% endfor %}</ul>
<a class="muted" href="{{ drill(s.tenant, s.source, None) }}" data-field="causes">what fixes them</a>
{% else %}<span class="muted">none</span>{% endif %}
{% if s.counts_run_id and not s.counts_are_of_last_run %}\
<div class="muted" title="{{ s.counts_run_id }}">counts from the last run that reported\
 ({{ s.counts_recorded_at | when }})</div>{% endif %}
</td>
<td data-field="warned">{% if s.written_with_warning %}\
<ul class="q w">{% for g in s.quarantine if g.outcome == 'written_with_warning' %}
<li data-reason="{{ g.reason }}" data-outcome="written_with_warning">\
<a href="{{ drill(s.tenant, s.source, g.reason) }}"><code>{{ g.reason }}</code>: \
<span data-field="count">{{ g.count }}</span></a></li>{% endfor %}</ul>
{% else %}<span class="muted">none</span>{% endif %}</td></tr>
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
{{ ui_link_js | safe }}
</script>
</body></html>
""")

_DRILL = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hq-sync quarantine: {{ tenant }}</title><style>{{ style }}</style>\
</head>
<body>
<div><a href="{{ back_url }}">← sync status</a>{% if charts_url %} · <a href="{{ charts_url }}">charts\
</a>{% endif %} · <a href="{{ json_url }}">JSON</a></div>
<h1>Open quarantine: {{ tenant }}{% if source %} / {{ source }}{% endif %}{% if reason %} / <code>{{ reason }}\
</code>{% endif %}</h1>
<div class="muted"><span id="count">{{ total }}</span> open item(s), <span id="held-back">{{ held }}\
</span> held back (not in HQ),
<span id="warned">{{ total - held }}\
</span> written with a warning. Grouped by what fixes them; held-back items are retried every run
and leave quarantine by themselves once their cause is fixed.</div>
{% for g in groups %}
<h2 data-group="{{ g.reason }}" data-outcome="{{ g.outcome }}" data-source="{{ g.source }}">
{% if g.outcome == 'held_back' %}Held back{% else %}Written with a warning{% endif %}: <code>{{ g.reason }}\
</code> ({{ g.source }} {{ g.entity }})</h2>
<p class="fix" data-field="sentence">{{ g.sentence }}.</p>
<table class="causes"><thead><tr><th>{{ noun(g.reason) }}</th><th>Records</th><th>Hours</th><th>Oldest</th><th>Records\
</th></tr></thead><tbody>
{% for c in g.causes %}
<tr class="cause" data-cause="{{ c.value or '' }}"><td>{{ c.value or '(one cause: see the records)' }}</td>\
<td class="n" data-field="count">{{ c.count }}</td>
<td class="n" data-field="hours">{{ '%.2f' | format(c.hours) if c.hours else '–' }}</td><td>{{ c.oldest | when }}</td>
<td><details><summary>{{ c.count }} record(s)</summary>
<table class="items"><thead><tr><th>Since</th><th>Who</th><th>What</th><th>Why</th><th>Last seen</th><th>Last run</th>\
</tr></thead><tbody>
{% for i in c['items'] %}
<tr data-source-id="{{ i.source_id }}"><td>{{ i.since | when }}</td><td>{{ i.who or '–' }}</td>
<td>{{ i.source }} {{ i.entity }} <code>{{ i.source_id }}</code>{% if i.context %}<br>\
<span class="muted">{% for k, v in i.context.items() if k != 'booked' %}{{ k }}={{ v }}{% if not loop.last %},\
 {% endif %}{% endfor %}</span>{% endif %}</td>
<td><code>{{ i.reason }}</code>: {{ i.detail }}</td><td>{{ i.last_seen | when }}</td>\
<td class="muted">{{ i.last_run_id or '–' }}</td></tr>
{% endfor %}
</tbody></table></details></td></tr>
{% endfor %}
</tbody></table>
{% endfor %}
{% if not groups %}<p class="muted">Nothing open.</p>{% endif %}
<script>{{ ui_link_js | safe }}</script>
</body></html>
""")


def render_status(
    report: StatusReport, *, base: str = "", ui_base: str = "", extra_sections: list[str] | None = None
) -> str:
    """The status page. ``base``: where the plugin app is mounted (e.g. ``/hq-sync``);
    ``extra_sections``: HTML fragments rendered below the table (e.g. the drift audit)."""

    def charts(tenant: str, source: str) -> str:
        return f"{base}/status/charts?" + urlencode({"tenant": tenant, "source": source})

    def drill(tenant: str, source: str, reason: str | None) -> str:
        query = {"tenant": tenant, "source": source, "reason": reason}
        return f"{base}/status/quarantine?" + urlencode({k: v for k, v in query.items() if v})

    return _PAGE.render(
        report=report,
        totals=report.totals(),
        style=_STYLE,
        count_fields=COUNT_FIELDS,
        drill=drill,
        charts=charts,
        json_url=f"{base}/status.json",
        ui_base=ui_base,
        extra_sections=extra_sections or [],
        ui_link_js=_UI_LINK_JS,
    )


def _noun(reason: str) -> str:
    info = reason_info(reason)
    return info.noun[:1].upper() + info.noun[1:] if info.cause_keys else "Cause"


def render_quarantine(
    groups: list[CauseGroup], *, tenant: str, source: str | None, reason: str | None, base: str = ""
) -> str:
    """The drill-down: the open items of a tenant (source, reason) grouped by what fixes them."""
    query = urlencode({k: v for k, v in {"tenant": tenant, "source": source, "reason": reason}.items() if v})
    total = sum(g.count for g in groups)
    held = sum(g.count for g in groups if g.outcome == QuarantineOutcome.HELD_BACK)
    return _DRILL.render(
        groups=groups,
        total=total,
        held=held,
        tenant=tenant,
        source=source,
        reason=reason,
        style=_STYLE,
        noun=_noun,
        back_url=f"{base}/status",
        json_url=f"{base}/status/quarantine.json?{query}",
        ui_link_js=_UI_LINK_JS,
        charts_url=f"{base}/status/charts?" + urlencode({"tenant": tenant, **({"source": source} if source else {})}),
    )


# -- charts per tenant and source (issue 15) ------------------------------------------------------
_CHARTS = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hq-sync charts: {{ tenant }}</title>\
<style>{{ style }}{{ chart_style }}</style></head>
<body>
<div><a href="{{ back_url }}">← sync status</a> · <a href="{{ drill_url }}">open quarantine</a> · last
{% for n in (10, 30, 100) %}<a href="{{ self_url }}&amp;runs={{ n }}">{{ n }}\
</a>{% if not loop.last %} / {% endif %}{% endfor %} runs ·
last {% for d in (1, 7, 30) %}<a href="{{ self_url }}&amp;days={{ d }}">{{ d }}\
</a>{% if not loop.last %} / {% endif %}{% endfor %} days</div>
<h1>Charts: {{ display_name }} <span class="muted">({{ tenant }})</span></h1>
<div class="muted">Last {{ runs }} runs{% if days %} within {{ days }} day(s){% endif %} per source, oldest left;\
 hover a bar for its numbers.
Records and backlog from the staging database, durations and states from Airflow's REST API.</div>
{% if config_note %}<div class="note err" data-field="config_error">{{ config_note }}</div>{% endif %}
{% if not histories %}<p class="muted">No sync source of this tenant{% if source %} named {{ source }}{% endif %}.\
</p>{% endif %}
{% for h in histories %}
<section data-source="{{ h.source }}" data-dag-id="{{ h.dag_id }}">
<h2>{{ h.source }} <span class="muted">\
<a class="ui" target="_top" href="{{ ui_base }}/dags/{{ h.dag_id }}">{{ h.dag_id }}</a></span></h2>
{% set f = h.freshness %}
<div data-field="freshness" data-state="{{ f.state }}">Freshness: \
<span class="state s-{{ 'success' if f.state == 'fresh' else 'failed' if f.state in ('late', 'never') else 'none' }}">\
{{ f.state }}</span>
{% if f.last_success_at %} last successful run {{ f.last_success_at | when }} ({{ f.age_s | duration }} ago){% else %}\
 no successful run yet{% endif %}
{% if f.interval_s %}; schedule every {{ f.interval_s | duration }}, late after\
 {{ (f.interval_s * late_factor) | duration }}{% endif %} · held back now: <b data-field="backlog">{{ h.backlog_now }}\
</b>{% if h.backlog_age_days is not none %}, oldest {{ h.backlog_age_days | age }}{% endif %}</div>
{% if h.airflow_error %}<div class="note err">No durations: Airflow's REST API could not be read\
 ({{ h.airflow_error }})</div>{% endif %}
<div>{% for chart in charts[loop.index0] %}{{ chart }}{% endfor %}</div>
</section>
{% endfor %}
<script>{{ ui_link_js | safe }}</script>
</body></html>
""")


def _history_charts(h: SourceHistory) -> list[Markup]:
    from hq_sync.ops.charts import Point, Series, bar_chart

    def label(p: RunPoint) -> str:
        return p.at.astimezone(UTC).strftime("%m-%d %H:%M")

    def point(p: RunPoint, **values: float | None) -> Point:
        return Point(label(p), values, f"{p.run_id}{', ' + p.state if p.state else ''}")

    durations = [p.duration_s for p in h.runs if p.duration_s is not None]
    minutes = bool(durations) and max(durations) >= 120
    scale = 60 if minutes else 1
    interval_h = h.freshness.interval_s / 3600 if h.freshness and h.freshness.interval_s else None
    return [
        bar_chart(
            "records",
            "Records per run: written / held back",
            [point(p, written=p.written, held_back=p.held_back) for p in h.runs],
            [Series("written", "written", "#38a169"), Series("held_back", "held back", "#dd6b20")],
        ),
        bar_chart(
            "duration",
            f"Run duration ({'min' if minutes else 's'})",
            [point(p, duration=p.duration_s / scale if p.duration_s is not None else None) for p in h.runs],
            [Series("duration", "duration", "#3182ce")],
            unit=" min" if minutes else " s",
        ),
        bar_chart(
            "freshness",
            "Hours between successful runs",
            [point(p, gap=p.gap_s / 3600 if p.gap_s is not None else None) for p in h.runs],
            [Series("gap", "gap", "#805ad5")],
            unit=" h",
            reference=interval_h,
            reference_label=f"schedule {interval_h:g} h" if interval_h else "",
        ),
        bar_chart(
            "backlog",
            "Held-back backlog and its age",
            [point(p, backlog=p.backlog, age=p.backlog_age_days) for p in h.runs],
            [Series("backlog", "open items", "#dd6b20"), Series("age", "oldest (days)", "#e53e3e", "line", " d")],
        ),
    ]


def render_charts(
    histories: list[SourceHistory],
    *,
    tenant: str,
    display_name: str,
    source: str | None = None,
    runs: int,
    days: float | None,
    config_note: str | None = None,
    base: str = "",
    ui_base: str = "",
) -> str:
    """The charts page of one tenant (or one of its sources): four charts per source."""
    from hq_sync.ops.charts import CHART_STYLE
    from hq_sync.ops.history import LATE_FACTOR

    query = {"tenant": tenant, **({"source": source} if source else {})}
    return _CHARTS.render(
        histories=histories,
        charts=[_history_charts(h) for h in histories],
        tenant=tenant,
        display_name=display_name,
        source=source,
        runs=runs,
        days=days,
        config_note=config_note,
        style=_STYLE,
        chart_style=CHART_STYLE,
        late_factor=LATE_FACTOR,
        ui_base=ui_base,
        back_url=f"{base}/status",
        drill_url=f"{base}/status/quarantine?" + urlencode({"tenant": tenant}),
        self_url=f"{base}/status/charts?" + urlencode(query),
        ui_link_js=_UI_LINK_JS,
    )

"""The status page plugin in a real ``airflow`` API server (tests/ops/harness.py) against seeded staging."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import requests

from tests.ops.harness import World
from tests.plugins.seed import (
    AWORK_RUN,
    EXPECTED_COUNTS,
    EXPECTED_QUARANTINE,
    EXPECTED_WARNINGS,
    PERSONIO_RUN,
    UNKNOWN_EMAILS,
)


@pytest.fixture
def auth(seeded_world: World) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded_world.token()}"}


def _source(body: dict, tenant: str, source: str) -> dict:
    [t] = [t for t in body["tenants"] if t["id"] == tenant]
    [s] = [s for s in t["sources"] if s["source"] == source]
    return s


@pytest.mark.parametrize("path", ["/hq-sync/status.json", "/hq-sync/status",
                                  "/hq-sync/status/quarantine.json?tenant=acme", "/hq-sync/status/quarantine?tenant=acme"])
def test_unauthenticated_requests_are_refused(seeded_world: World, path: str) -> None:
    resp = requests.get(seeded_world.url + path, headers={"Accept": "application/json"}, allow_redirects=False, timeout=10)
    assert resp.status_code == 401
    assert "acme" not in resp.text
    forged = requests.get(seeded_world.url + path, headers={"Authorization": "Bearer not-a-jwt"}, allow_redirects=False, timeout=10)
    assert forged.status_code in (401, 403)
    assert "ACME" not in forged.text


def test_a_browser_without_session_is_sent_to_login(seeded_world: World) -> None:
    resp = requests.get(seeded_world.url + "/hq-sync/status", headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
    assert resp.status_code == 302
    assert "/auth/login" in resp.headers["location"] and "hq-sync" in resp.headers["location"]


def test_the_ui_cookie_is_accepted(seeded_world: World) -> None:
    resp = requests.get(seeded_world.url + "/hq-sync/status.json", cookies={"_token": seeded_world.token()}, timeout=30)
    assert resp.status_code == 200


def test_navigation_entry_is_registered(seeded_world: World, auth: dict[str, str]) -> None:
    plugins = requests.get(seeded_world.url + "/api/v2/plugins", headers=auth, timeout=10).json()["plugins"]
    [plugin] = [p for p in plugins if p["name"] == "hq_sync_status"]
    view, tab = plugin["external_views"]
    assert view["href"] == "/hq-sync/status" and view["destination"] == "nav" and view["url_route"] == "hq-sync-status"
    assert tab["href"] == "/hq-sync/status/charts?dag_id={DAG_ID}" and tab["destination"] == "dag"  # a tab on each DAG
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/hq-sync"


def test_json_endpoint_serves_the_seeded_state(seeded_world: World, auth: dict[str, str]) -> None:
    resp = requests.get(seeded_world.url + "/hq-sync/status.json", headers=auth, timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["airflow_error"] is None
    assert {t["id"] for t in body["tenants"]} >= {"acme", "beta"}
    for (tenant, source), counts in EXPECTED_COUNTS.items():
        s = _source(body, tenant, source)
        assert s["counts"] == counts, (tenant, source)
        held, warned = EXPECTED_QUARANTINE.get((tenant, source), {}), EXPECTED_WARNINGS.get((tenant, source), {})
        assert {g["reason"]: g["count"] for g in s["quarantine"]} == {**held, **warned}
        assert {g["reason"] for g in s["quarantine"] if g["outcome"] == "written_with_warning"} == set(warned)
        assert s["held_back"] == sum(held.values()) and s["written_with_warning"] == sum(warned.values())
        assert s["open_quarantine"] == s["held_back"] + s["written_with_warning"]  # kept for monitoring tools
    personio = _source(body, "acme", "personio")
    assert personio["counts_run_id"] == PERSONIO_RUN  # the latest run, not the older one
    assert personio["entities"]["absence"]["details"] == {"quarantined": {"unmapped_type": 3}}
    assert personio["quarantine"][0]["age_days"] == pytest.approx(10, abs=0.2)
    awork = _source(body, "acme", "awork")
    assert awork["counts_run_id"] == AWORK_RUN and set(awork["entities"]) == {"time_entry", "task"}
    assert awork["open_conflicts"] == 2 and awork["counts"]["conflicts"] == 2
    groups = {g["reason"]: g for g in awork["quarantine"]}
    assert groups["unknown_email"]["age_days"] == pytest.approx(3.5, abs=0.5)
    # From Airflow's REST API: the awork DAG is scheduled daily from tomorrow, so no run, a next run.
    assert awork["in_airflow"] is True and awork["paused"] is False
    assert awork["last_run"] is None and awork["next_run"] is not None
    # A broken tenant file is listed with its field and reason.
    [error] = body["config_errors"]
    assert error["file"] == "gamma.yaml" and error["dag_id"] == "tenant_config_error__gamma"
    assert error["problems"][0]["field"] == "sources.personio.schedule"
    assert "cron" in error["problems"][0]["reason"]
    totals = body["totals"]
    assert totals["config_errors"] == 1 and totals["open_quarantine"] == 19 and totals["open_conflicts"] == 2
    assert totals["held_back"] == 17 and totals["written_with_warning"] == 2


def test_last_run_comes_from_the_rest_api(seeded_world: World, auth: dict[str, str]) -> None:
    api = seeded_world.api()
    run = api.trigger("personio_absences__acme")
    seeded_world.wait_for("acme's run to finish", lambda: api.latest_runs(["personio_absences__acme"])
                          ["personio_absences__acme"]["state"] in ("success", "failed"), timeout=90)
    s = _source(requests.get(seeded_world.url + "/hq-sync/status.json", headers=auth, timeout=30).json(), "acme", "personio")
    assert s["last_run"]["run_id"] == run["dag_run_id"]
    assert s["last_run"]["state"] == "success"
    assert s["last_run"]["duration_s"] > 0
    assert s["last_run"]["grid_url"].startswith("/dags/personio_absences__acme/runs/")
    assert s["counts_are_of_last_run"] is False  # the test DAG does not report: older counts, said so


class _Rows(HTMLParser):
    """Collects the numbers of the status table by (tenant, source) from the data-* attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[tuple[str, str], dict[str, str]] = {}
        self._row: tuple[str, str] | None = None
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:  # type: ignore[type-arg]
        a = dict(attrs)
        if tag == "tr" and "data-tenant" in a:
            self._row = (a["data-tenant"], a["data-source"])
            self.rows[self._row] = {}
        elif self._row and "data-count" in a:
            self._field = a["data-count"]

    def handle_data(self, data: str) -> None:
        if self._row and self._field:
            self.rows[self._row][self._field] = data.strip()
            self._field = None


def test_html_page_shows_the_seeded_numbers(seeded_world: World, auth: dict[str, str]) -> None:
    resp = requests.get(seeded_world.url + "/hq-sync/status", headers=auth, timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    parser = _Rows()
    parser.feed(resp.text)
    for key, counts in EXPECTED_COUNTS.items():
        assert parser.rows[key] == {k: str(v) for k, v in counts.items()}, key
    assert "gamma.yaml" in resp.text and "sources.personio.schedule" in resp.text
    assert "<script>" not in resp.text.split("<script>\nfunction filterRows")[0]  # seeded '<script>' is escaped
    assert re.search(r'href="/hq-sync/status/quarantine\?tenant=acme&amp;source=awork&amp;reason=unknown_email"', resp.text)


def test_drill_down_lists_who_what_why_since(seeded_world: World, auth: dict[str, str]) -> None:
    url = seeded_world.url + "/hq-sync/status/quarantine.json"
    body = requests.get(url, params={"tenant": "acme", "source": "awork", "reason": "unknown_email"}, headers=auth, timeout=10).json()
    items = body["items"]
    assert [i["who"] for i in items] == list(reversed(UNKNOWN_EMAILS))  # oldest first (item 11 is oldest)
    assert all(i["reason"] == "unknown_email" and "no HQ user has the e-mail" in i["detail"] for i in items)
    assert items[0]["since"] < items[-1]["since"] and items[0]["context"]["hours"] == 1.5
    # Grouped by what fixes them: two HQ users to create release the 12 entries.
    [group] = body["causes"]
    assert group["outcome"] == "held_back" and group["count"] == 12 and group["hours"] == 18
    assert [(c["value"], c["count"], c["hours"]) for c in group["causes"]] == [("anna.neu@acme.de", 8, 12), ("ben.neu@acme.de", 4, 6)]
    assert group["sentence"] == "Create the HQ users anna.neu@acme.de and ben.neu@acme.de to release 12 entries, 18 h"
    page = requests.get(seeded_world.url + "/hq-sync/status/quarantine", headers=auth, timeout=10,
                        params={"tenant": "acme", "source": "personio"})
    assert page.status_code == 200
    assert page.text.count("<tr data-source-id=") == 3  # the resolved item is not listed
    assert "Sabbatical &lt;script&gt;" in page.text and "Sabbatical <script>" not in page.text
    whole = requests.get(seeded_world.url + "/hq-sync/status/quarantine", headers=auth, timeout=10, params={"tenant": "acme"})
    assert whole.text.index("to release 12 entries, 18 h") < whole.text.index('data-group="type_of_work_unmatched"')  # warnings last
    assert "written to HQ with a warning; to clear it: create the HQ task types Konzeption" in whole.text


def test_charts_page_of_a_dag_and_of_a_foreign_dag(seeded_world: World, auth: dict[str, str]) -> None:
    page = requests.get(seeded_world.url + "/hq-sync/status/charts", params={"dag_id": "awork_times__acme"}, headers=auth, timeout=30)
    assert page.status_code == 200
    assert page.text.count("<svg") == 4 and 'data-source="awork"' in page.text and 'data-source="personio"' not in page.text
    assert page.text.count('data-chart="records"') == 1 and page.text.count('<g data-point=') >= 4 * 15
    foreign = requests.get(seeded_world.url + "/hq-sync/status/charts", params={"dag_id": "example_<b>"}, headers=auth, timeout=30)
    assert foreign.status_code == 200 and "not a sync DAG" in foreign.text and "<b>" not in foreign.text

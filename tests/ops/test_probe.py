"""The go-live probe (issue #10) against the sandboxes in every position of every switch it reports on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import requests
import yaml

from hq_sync.clients.awork import AworkClient
from hq_sync.clients.hq import HqClient, HqOAuthTokens, hq_token_url
from hq_sync.clients.personio import PersonioClient, PersonioCredentials
from hq_sync.config import TenantConfig
from hq_sync.ops.probe import Status, main, run_probe
from sandboxes.awork.seed import seed_tenant as seed_awork
from sandboxes.hq.seed import seed_tenant as seed_hq
from sandboxes.personio.seed import seed_tenant as seed_personio
from sandboxes.testing import SandboxServers

T = "probe"
HQ_TOKEN, AWORK_KEY = "hq-probe-sync", "probe-awork-key"
APP, SECRET, REDIRECT = "777-probe", "probe-app-secret", "https://probe.hellohq.io/oauth/hq"
MONDAY = date.today() - timedelta(days=date.today().weekday() + 28)
TENANT = {"id": T, "display_name": "Probe GmbH", "sources": {
    "personio": {"sync_start_date": (MONDAY - timedelta(days=30)).isoformat()},
    "awork": {"sync_start_date": (MONDAY - timedelta(days=30)).isoformat()},
}}


def seed(sb: SandboxServers) -> None:
    emails = [f"Person.{i}@Probe.example" for i in range(9)]
    seed_hq(sb.url("hq"), T, {"sync_token": HQ_TOKEN, "users": [{"name": f"P {i}", "email": e} for i, e in enumerate(emails)]})
    periods = [{"person": emails[i].lower(), "type": "Urlaub", "start": (MONDAY + timedelta(days=7 * i)).isoformat(),
                "end": (MONDAY + timedelta(days=7 * i + span)).isoformat()} for i, span in enumerate((1, 2, 3))]
    periods.append({"person": emails[5].lower(), "type": "Krankheit", "start": MONDAY.isoformat()})  # open-ended
    seed_personio(sb.url("personio"), T, {
        "client_id": "probe-personio", "client_secret": "probe-secret",
        "persons": [{"email": e.lower(), "first_name": "P", "last_name": str(i)} for i, e in enumerate(emails)],
        "absence_types": [{"name": "Urlaub", "category": "PAID_VACATION", "unit": "DAY"},
                          {"name": "Krankheit", "category": "SICK_LEAVE", "unit": "DAY", "approval_required": False}],
        "absence_periods": periods,
    })
    seed_awork(sb.url("awork"), T, {
        "credentials": {"api_keys": [AWORK_KEY]},
        "users": [{"first_name": "Anna", "last_name": "A", "email": "anna@probe.example", "admin": True}],
        "types_of_work": ["Konzeption"], "projects": [{"name": "Web", "tasks": [{"name": "Sitemap"}]}],
        "time_entries": [{"user": "anna@probe.example", "task": "Sitemap", "date": (MONDAY + timedelta(days=d)).isoformat(),
                          "start": "09:00", "hours": 1, "note": f"n{d}"} for d in range(3)],
    })


@dataclass
class Clients:
    sb: SandboxServers
    oauth: str | None = None  # a refresh token: HQ over OAuth

    def hq(self) -> HqClient:
        if self.oauth is None:
            return HqClient(self.sb.url("hq") + "/v1", HQ_TOKEN)
        store = _Store(self.oauth)
        return HqClient(self.sb.url("hq") + "/v1", HqOAuthTokens(APP, SECRET, hq_token_url(self.sb.url("hq")), store, tenant=T))

    def personio(self) -> PersonioClient:
        return PersonioClient(self.sb.url("personio"), PersonioCredentials("probe-personio", "probe-secret"))

    def awork(self) -> AworkClient:
        return AworkClient(self.sb.url("awork") + "/api/v1", AWORK_KEY)


class _Store:
    def __init__(self, token: str) -> None:
        self.token = token

    def load(self) -> str | None:
        return self.token

    def save(self, token: str) -> None:
        self.token = token


def oauth_grant(sb: SandboxServers) -> str:
    sb.admin("hq").post(f"/tenants/{T}/oauth-clients", {"app_id": APP, "app_secret": SECRET, "redirect_uris": [REDIRECT],
                                                       "user": "person.0@probe.example"})
    from hq_sync.connect.hq import authorize_url

    location = requests.get(authorize_url(sb.url("hq") + "/v1", APP, REDIRECT, "s"), allow_redirects=False, timeout=10).headers["Location"]
    code = location.split("code=")[1].split("&")[0]
    return requests.post(sb.url("hq") + "/Token", auth=(APP, SECRET), timeout=10,
                         data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}).json()["refresh_token"]


E, D, U = Status.EXPECTED, Status.DIFFERS, Status.UNDETERMINED
# (id, switches per vendor (HQ: the tenant's), HQ over OAuth?, expected status per verdict, words a finding must hold)
POSITIONS: list[tuple[str, dict[str, dict[str, Any]], bool, list[Status], dict[int, str]]] = [
    ("defaults", {}, False, [E, E, E, E, E, E], {0: "no collection was cut short", 3: "exclusive", 5: "honours"}),
    ("hq-pages-of-4", {"hq": {"server_page_size": 4}}, False, [E, E, E, E, E, E], {0: "4 entities per page"}),
    ("hq-pages-of-4-no-nextlink", {"hq": {"server_page_size": 4, "next_link": False}}, False, [D, E, E, E, E, E], {0: "WITHOUT"}),
    ("hq-count-ignored", {"hq": {"honour_count": False}}, False, [D, E, E, E, E, E], {0: "ignored $count"}),
    ("hq-case-sensitive", {"hq": {"string_compare": "case_sensitive"}}, False, [E, D, E, E, E, E], {1: "case-sensitively"}),
    ("hq-oauth", {"hq": {"access_token_lifetime": 1199}}, True, [E, E, E, E, E, E], {2: "1199 s"}),
    ("hq-oauth-no-rotation", {"hq": {"refresh_token_rotation": False, "access_token_lifetime": 600}}, True,
     [E, E, E, E, E, E], {2: "kept the refresh token"}),
    ("personio-inclusive", {"personio": {"day_end_boundary": "inclusive"}}, False, [E, E, E, D, E, E], {3: "inclusive"}),
    ("personio-inclusive-weekends-omitted", {"personio": {"day_end_boundary": "inclusive", "breakdown_weekends": "omit"}},
     False, [E, E, E, D, E, E], {3: "the tenant file says exclusive"}),
    ("personio-open-ended-excluded", {"personio": {"open_ended_in_filters": "excluded"}}, False, [E, E, E, E, D, E], {4: "DROPS"}),
    ("personio-literal-filters", {"personio": {"date_filter_semantics": "literal"}}, False, [E, E, E, E, E, E], {}),
    *[(f"awork-{q}", {"awork": {"time_entries_query": q}}, False, [E, E, E, E, E, D], {5: "ignores"})
      for q in ("filter_ignored", "order_ignored", "ignored")],
]


@pytest.mark.parametrize(("switches", "oauth", "statuses", "words"), [p[1:] for p in POSITIONS], ids=[p[0] for p in POSITIONS])
def test_the_probe_reports_each_switch_position(fresh_sandboxes, switches, oauth, statuses, words):
    seed(fresh_sandboxes)
    if switches.get("hq"):
        fresh_sandboxes.admin("hq").put(f"/tenants/{T}/settings", switches["hq"])
    if switches.get("personio"):
        fresh_sandboxes.admin("personio").put("/settings", switches["personio"])
    if switches.get("awork"):
        fresh_sandboxes.admin("awork").put(f"/tenants/{T}/settings", switches["awork"])
    before = {v: len(fresh_sandboxes.admin(v).requests()) for v in ("hq", "personio", "awork")}

    verdicts = run_probe(TenantConfig.model_validate(TENANT), Clients(fresh_sandboxes, oauth_grant(fresh_sandboxes) if oauth else None))

    assert [v.status for v in verdicts] == statuses, [(v.assumption, v.status, v.finding) for v in verdicts]
    for index, word in words.items():
        assert word in verdicts[index].finding, verdicts[index]
    assert all(v.sync_does for v in verdicts)
    # Read-only, and a handful of requests.
    for vendor in ("hq", "personio", "awork"):
        log = fresh_sandboxes.admin(vendor).requests()[before[vendor]:]
        assert [r for r in log if r["method"] not in ("GET", "HEAD") and r["path"] not in ("/Token", "/v2/auth/token")] == []
        assert len(log) <= 12, (vendor, len(log))


def test_the_command_prints_a_verdict_per_assumption(fresh_sandboxes, tmp_path, monkeypatch, capsys, airflow_db):
    seed(fresh_sandboxes)
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / f"{T}.yaml").write_text(yaml.safe_dump(TENANT))
    monkeypatch.setenv("HQ_SYNC_TENANTS_DIR", str(tenants))
    monkeypatch.setenv("HQ_SYNC_STAGING_URL", f"sqlite:///{tmp_path / 'staging.sqlite'}")
    # As on an Airflow host: the HQ connection in the metadata database (the probe runs outside a task).
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        for old in session.query(Connection).filter(Connection.conn_id == "hq_probe"):
            session.delete(old)
        session.add(Connection(conn_id="hq_probe", conn_type="http", host=fresh_sandboxes.url("hq") + "/v1", password=HQ_TOKEN))
    monkeypatch.delenv("AIRFLOW_CONN_HQ_PROBE", raising=False)
    for conn_id, body in (("awork_probe", {"host": fresh_sandboxes.url("awork") + "/api/v1", "password": AWORK_KEY}),
                          ("personio_probe", {"host": fresh_sandboxes.url("personio"), "login": "probe-personio",
                                              "password": "probe-secret"})):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "http", **body}))
    fresh_sandboxes.admin("hq").put(f"/tenants/{T}/settings", {"server_page_size": 4, "next_link": False})

    assert main(["--tenant", T]) == 0
    out = capsys.readouterr().out
    assert "1. HQ server page size and @odata.nextLink: DIFFERS" in out and "WITHOUT @odata.nextLink" in out
    assert out.count("   the sync: ") == 6 and "every check ran" in out
    assert main(["--tenant", T, "--json"]) == 0
    raw = capsys.readouterr().out
    assert [v["status"] for v in json.loads(raw)][:2] == ["differs", "as expected"]

    # As a command: stdout holds the JSON and nothing else (Airflow's logging goes to stderr).
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "hq_sync.ops.probe", "--tenant", T, "--json"], capture_output=True, text=True,
                          env={**os.environ}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [v["assumption"] for v in json.loads(proc.stdout)][0] == "HQ server page size and @odata.nextLink"

    monkeypatch.setenv("AIRFLOW_CONN_PERSONIO_PROBE", json.dumps({"conn_type": "http", "host": fresh_sandboxes.url("personio"),
                                                                 "login": "probe-personio", "password": "wrong"}))
    assert main(["--tenant", T]) == 1  # a check that cannot run says why
    assert "ERROR" in capsys.readouterr().out

"""The sandboxes push (issue #14): subscriptions, deliveries with the vendors' rules, fault switches.

A small recording receiver (uvicorn in a thread) stands on the other end; the sandboxes deliver
to it over loopback HTTP like the vendors would to the hq-sync receiver.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandboxes.awork.seed import seed_tenant as seed_awork
from sandboxes.personio.seed import seed_tenant as seed_personio
from sandboxes.testing import free_port
from tests.e2e.conftest import AworkAdmin, PersonioAdmin

FAST = {"retry_delays": [0.05]}


class Catcher:
    """Records every POST; answers with the queued statuses (then 200), optionally slowly."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: deque[int] = deque()
        self.always: int | None = None
        self.delay = 0.0
        self.port = free_port()
        app = FastAPI()

        @app.post("/{path:path}")
        async def catch(path: str, request: Request) -> JSONResponse:
            self.received.append({"path": "/" + path, "headers": dict(request.headers), "body": await request.json(),
                                  "at": time.monotonic()})
            if self.delay:
                import asyncio

                await asyncio.sleep(self.delay)
            status = self.always or (self.answers.popleft() if self.answers else 200)
            return JSONResponse({}, status_code=status)

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self) -> list[str]:
        return [r["body"].get("event_name") or r["body"].get("eventType") for r in self.received]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture
def catcher():
    c = Catcher()
    yield c
    c.stop()


def wait(sandboxes, vendor: str) -> None:
    assert sandboxes.admin(vendor).post("/webhooks/wait?timeout=30", {})["idle"]


def deliveries(sandboxes, vendor: str) -> list[dict[str, Any]]:
    return sandboxes.admin(vendor).get("/webhooks/deliveries")["deliveries"]


# -- Personio ----------------------------------------------------------------------------------
PERSONIO = {
    "client_id": "acme-personio", "client_secret": "acme-secret",
    "persons": [{"email": "anna@acme.example", "first_name": "Anna", "last_name": "Berg"}],
    "absence_types": [{"name": "Urlaub", "category": "PAID_VACATION", "unit": "DAY"}],
    "absence_periods": [{"person": "anna@acme.example", "type": "Urlaub", "start": "2026-12-01", "end": "2026-12-02",
                         "comment": "one"}],
}


@pytest.fixture
def personio(fresh_sandboxes):
    seed_personio(fresh_sandboxes.url("personio"), "acme", PERSONIO)
    seed_personio(fresh_sandboxes.url("personio"), "beta", {**PERSONIO, "client_id": "beta-personio",
                                                            "client_secret": "beta-secret"})
    fresh_sandboxes.admin("personio").put("/webhooks/settings", FAST)
    return PersonioAdmin(fresh_sandboxes.url("personio"), "acme-personio", "acme-secret")


def subscribe(admin: PersonioAdmin, url: str, **body: Any) -> dict[str, Any]:
    payload = {"url": url, "description": "test", "status": "ENABLED", "token": "tok-1",
               "enabled_events": ["absence-period.created", "absence-period.updated.timerange",
                                  "absence-period.updated.status", "absence-period.deleted"], **body}
    resp = admin.session.post(f"{admin.base_url}/v2/webhooks", json=payload, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_personio_webhook_management(personio, catcher):
    hook = subscribe(personio, catcher.url())
    assert "token" not in hook and hook["status"] == "ENABLED" and hook["auth_type"] == "TOKEN"
    s, base = personio.session, personio.base_url
    assert s.post(f"{base}/v2/webhooks", json={"url": catcher.url(), "description": "again", "enabled_events":
                                                ["absence-period.created"]}, timeout=10).status_code == 409
    assert s.post(f"{base}/v2/webhooks", json={"url": "http://example.com/x", "description": "plain http",
                                                "enabled_events": ["absence-period.created"]}, timeout=10).status_code == 422
    assert s.post(f"{base}/v2/webhooks", json={"url": "https://example.com/x", "description": "x",
                                                "enabled_events": ["absence-period.exploded"]}, timeout=10).status_code == 422
    listed = s.get(f"{base}/v2/webhooks", timeout=10).json()["_data"]
    assert [h["id"] for h in listed] == [hook["id"]]
    patched = s.patch(f"{base}/v2/webhooks/{hook['id']}", json={"status": "DISABLED"}, timeout=10).json()
    assert patched["status"] == "DISABLED" and patched["url"] == catcher.url()
    assert s.delete(f"{base}/v2/webhooks/{hook['id']}", timeout=10).status_code == 204
    assert s.get(f"{base}/v2/webhooks/{hook['id']}", timeout=10).status_code == 404


def test_personio_delivers_dataless_events_of_api_changes_with_the_token(personio, catcher, fresh_sandboxes):
    hook = subscribe(personio, catcher.url())
    period = personio.find("one")
    personio.patch(period["id"], {"comment": "only the comment"})  # Personio documents no event for this
    personio.patch(period["id"], {"ends_at": {"date_time": "2026-12-04T00:00:00"}})
    personio.patch(period["id"], {"approval": {"status": "REJECTED"}})
    personio.delete(period["id"])
    other = PersonioAdmin(fresh_sandboxes.url("personio"), "beta-personio", "beta-secret")
    other.delete(other.find("one")["id"])  # another company's change never reaches acme's webhook
    wait(fresh_sandboxes, "personio")
    assert catcher.events() == ["absence-period.updated.timerange", "absence-period.updated.status",
                                "absence-period.deleted"]
    first = catcher.received[0]
    assert first["headers"]["authorization"] == "tok-1"
    assert first["body"]["payload"] == {"id": period["id"]} and first["body"]["company_id"] == "acme"
    history = personio.session.get(f"{personio.base_url}/v2/webhooks/{hook['id']}/events", timeout=10).json()["_data"]
    assert [(e["event_name"], e["status"]) for e in history] == [
        ("absence-period.updated.timerange", "DELIVERED"), ("absence-period.updated.status", "DELIVERED"),
        ("absence-period.deleted", "DELIVERED")]
    since = history[-1]["occurred_at"]
    later = personio.session.get(f"{personio.base_url}/v2/webhooks/{hook['id']}/events",
                                 params={"occurred_at.gte": since, "event_name": "absence-period.deleted"}, timeout=10)
    assert [e["event_name"] for e in later.json()["_data"]] == ["absence-period.deleted"]


def test_personio_retries_5xx_and_silence_but_not_4xx_or_501(personio, catcher, fresh_sandboxes):
    subscribe(personio, catcher.url())
    period = personio.find("one")
    catcher.answers.extend([500, 503, 200])  # two quick tries fail, the second attempt succeeds
    personio.patch(period["id"], {"ends_at": {"date_time": "2026-12-04T00:00:00"}})
    wait(fresh_sandboxes, "personio")
    [d] = deliveries(fresh_sandboxes, "personio")
    assert d["outcome"] == "delivered" and [(a["attempt"], a["status"]) for a in d["attempts"]] == [(1, 500), (1, 503), (2, 200)]
    for status in (401, 501):
        catcher.answers.append(status)
        personio.patch(period["id"], {"approval": {"status": "REJECTED" if status == 401 else "APPROVED"}})
        wait(fresh_sandboxes, "personio")
        last = deliveries(fresh_sandboxes, "personio")[-1]
        assert (last["outcome"], [a["status"] for a in last["attempts"]]) == ("failed", [status])
    fresh_sandboxes.admin("personio").put("/webhooks/settings", {"timeout_seconds": 0.3, "attempts": 2})
    catcher.delay = 0.6
    personio.delete(period["id"])
    wait(fresh_sandboxes, "personio")
    last = deliveries(fresh_sandboxes, "personio")[-1]
    assert last["outcome"] == "failed" and len(last["attempts"]) == 4  # 2 attempts x 2 quick tries, no answer in time
    assert all(a["status"] is None and "no answer" in a["error"] for a in last["attempts"])


def test_fault_switches_drop_duplicate_late_and_out_of_order(personio, catcher, fresh_sandboxes):
    hook = subscribe(personio, catcher.url())
    admin = fresh_sandboxes.admin("personio")
    period = personio.find("one")
    admin.post("/webhooks/faults", {"mode": "drop", "count": 1})
    personio.patch(period["id"], {"ends_at": {"date_time": "2026-12-04T00:00:00"}})
    wait(fresh_sandboxes, "personio")
    assert catcher.received == []  # lost on the way ...
    history = personio.session.get(f"{personio.base_url}/v2/webhooks/{hook['id']}/events", timeout=10).json()["_data"]
    assert [e["event_name"] for e in history] == ["absence-period.updated.timerange"]  # ... but Personio knows it

    admin.post("/webhooks/faults", {"mode": "duplicate", "count": 1})
    personio.patch(period["id"], {"approval": {"status": "REJECTED"}})
    wait(fresh_sandboxes, "personio")
    assert catcher.events() == ["absence-period.updated.status"] * 2
    assert catcher.received[0]["body"] == catcher.received[1]["body"]

    catcher.received.clear()
    admin.post("/webhooks/faults", {"mode": "out_of_order", "count": 1, "seconds": 5})
    personio.patch(period["id"], {"approval": {"status": "APPROVED"}})
    personio.patch(period["id"], {"ends_at": {"date_time": "2026-12-05T00:00:00"}})
    wait(fresh_sandboxes, "personio")
    assert catcher.events() == ["absence-period.updated.timerange", "absence-period.updated.status"]

    catcher.received.clear()
    admin.post("/webhooks/faults", {"mode": "late", "count": 1, "seconds": 1.0})
    started = time.monotonic()
    personio.delete(period["id"])
    wait(fresh_sandboxes, "personio")
    assert catcher.events() == ["absence-period.deleted"] and catcher.received[0]["at"] - started >= 1.0
    assert [f["fired"] for f in admin.get("/webhooks/faults")["faults"]] == [1, 1, 1, 1]


# -- awork -------------------------------------------------------------------------------------
AWORK = {
    "workspace": {"name": "acme"}, "timezone": "Europe/Berlin", "credentials": {"api_keys": ["acme-awork-key"]},
    "users": [{"first_name": "Anna", "last_name": "Berg", "email": "anna@acme.example", "admin": True}],
    "types_of_work": ["Design"],
    "projects": [{"name": "Website", "key": "WEB", "tasks": [{"name": "Styles", "type_of_work": "Design"}]}],
    "time_entries": [{"user": "anna@acme.example", "project": "Website", "task": "Styles", "date": "2026-11-20",
                      "start": f"{9 + i}:00", "hours": 0.5, "note": f"entry {i}"} for i in range(6)],
}


@pytest.fixture
def awork(fresh_sandboxes):
    seed_awork(fresh_sandboxes.url("awork"), "acme", AWORK)
    fresh_sandboxes.admin("awork").put("/webhooks/settings", FAST)
    return AworkAdmin(fresh_sandboxes.url("awork"), "acme-awork-key")


def awork_subscribe(admin: AworkAdmin, url: str, events: str = "timetracking_added,timetracking_updated,"
                    "timetracking_deleted,project_updated") -> dict[str, Any]:
    resp = admin.session.post(f"{admin.base}/webhooks", json={
        "name": "test", "uri": url, "events": events, "isActive": True,
        "authenticationType": "header", "authentication": "X-Hq-Sync-Secret=s3cret"}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_awork_delivers_changes_with_the_header_and_a_project_change_bursts(awork, catcher, fresh_sandboxes):
    hook = awork_subscribe(awork, catcher.url())
    assert hook["isActive"] and hook["events"].startswith("timetracking_added")
    awork.edit_entry("entry 0", duration=7200)
    awork.delete_entry("entry 1")
    wait(fresh_sandboxes, "awork")
    assert catcher.events() == ["timetracking_updated", "timetracking_deleted"]
    body = catcher.received[0]["body"]
    assert catcher.received[0]["headers"]["x-hq-sync-secret"] == "s3cret"
    assert body["entity"]["duration"] == 7200 and body["entityId"] == body["entity"]["id"] and body["traceId"]

    catcher.received.clear()
    project = awork.project("Website")
    resp = awork.session.put(f"{awork.base}/projects/{project['id']}", json={"name": "Website 2"}, timeout=10)
    assert resp.status_code == 200, resp.text
    wait(fresh_sandboxes, "awork")
    events = catcher.events()
    assert events.count("project_updated") == 1 and events.count("timetracking_updated") == 5
    assert len({r["body"]["traceId"] for r in catcher.received}) == 1  # one request, one trace

    catcher.received.clear()
    fresh_sandboxes.admin("awork").put("/webhooks/settings", {"project_change_fires_time_entries": False})
    awork.session.put(f"{awork.base}/projects/{project['id']}", json={"name": "Website 3"}, timeout=10)
    wait(fresh_sandboxes, "awork")
    assert catcher.events() == ["project_updated"]


def test_awork_retries_ten_times_then_pauses_the_webhook_until_reenabled(awork, catcher, fresh_sandboxes):
    hook = awork_subscribe(awork, catcher.url())
    catcher.always = 500
    awork.edit_entry("entry 0", duration=3600)
    wait(fresh_sandboxes, "awork")
    [d] = deliveries(fresh_sandboxes, "awork")
    assert d["outcome"] == "failed" and len(d["attempts"]) == 11  # the first try and 10 retries
    paused = awork.session.get(f"{awork.base}/webhooks/{hook['id']}", timeout=10).json()
    assert paused["isActive"] is False and "paused after 11 failed attempts" in paused["lastFailureReason"]
    awork.edit_entry("entry 0", duration=1800)
    wait(fresh_sandboxes, "awork")
    assert len(deliveries(fresh_sandboxes, "awork")) == 1  # a paused webhook gets nothing

    catcher.always = None
    body = {k: paused[k] for k in ("name", "uri", "events", "authenticationType", "authentication")}
    assert awork.session.put(f"{awork.base}/webhooks/{hook['id']}", json={**body, "isActive": True}, timeout=10).ok
    awork.edit_entry("entry 0", duration=900)
    wait(fresh_sandboxes, "awork")
    assert deliveries(fresh_sandboxes, "awork")[-1]["outcome"] == "delivered"

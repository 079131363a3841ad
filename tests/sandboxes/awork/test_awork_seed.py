"""Scenario seeding: an ``awork:`` section loaded over HTTP, natural keys resolved to ids."""

from __future__ import annotations

import pytest
import yaml

from sandboxes.awork.seed import SeedError, seed_tenant

from .awork_helpers import AworkSandbox

SECTION = yaml.safe_load("""
workspace: {name: Acme Agentur}
credentials:
  api_keys: [acme-awork-key]
  oauth_clients:
    - {client_id: acmehq, client_secret: s3cret, redirect_uris: ["https://acme.hellohq.io/oauth/awork"]}
  login: {email: anna@acme.de}
users:
  - {first_name: Anna, last_name: Admin, email: anna@acme.de, admin: true}
  - {first_name: Ben, last_name: Berater, email: Ben@Acme.de}
types_of_work: [Konzeption, {name: Design, icon: brush}]
companies: [Acme GmbH]
projects:
  - name: Website Relaunch
    company: Acme GmbH
    key: WEB
    task_lists: ["Konzeption [5,4d]", "Review [2,5h]"]
    tasks:
      - {name: Sitemap, lists: ["Konzeption [5,4d]", "Review [2,5h]"], type_of_work: Design, planned_hours: 6}
      - {name: Styleguide, list: "Review [2,5h]", planned_duration: 3600, assignees: [ben@acme.de]}
  - {name: Intern, billable: false}
time_entries:
  - {user: anna@acme.de, project: Website Relaunch, task: Sitemap, date: 2026-03-02, start: "09:30",
     duration: 5400, note: Entwurf, billed: true}
  - {user: ben@acme.de, task: Styleguide, date: 2026-03-03, start: 9:00, hours: 1.5}
  - {user: ben@acme.de, project: Intern, type_of_work: Konzeption, date: 2026-03-04, minutes: 30}
generate_time_entries: {from: 2026-01-05, to: 2026-01-09, per_day: 2, seed: 7, users: [anna@acme.de]}
""")


def test_seed_loads_a_section_by_natural_keys(aw: AworkSandbox) -> None:
    lines = seed_tenant(aw.url, "acme", SECTION)
    assert lines[0] == ("awork acme: 2 users, 2 types of work, 1 companies, 2 projects, "
                        "2 task lists, 2 tasks, 13 time entries")
    client = aw.client("acme-awork-key")
    assert client.ok("GET", "/me")["workspace"]["name"] == "Acme Agentur"
    web = client.ok("GET", "/projects/key/WEB")
    assert web["company"]["name"] == "Acme GmbH"
    tasks = {t["name"]: t for t in client.ok("GET", f"/projects/{web['id']}/projecttasks")}
    assert [lst["name"] for lst in tasks["Sitemap"]["lists"]] == ["Konzeption [5,4d]", "Review [2,5h]"]
    assert tasks["Sitemap"]["plannedDuration"] == 21600 and tasks["Sitemap"]["typeOfWork"]["name"] == "Design"
    assert tasks["Styleguide"]["typeOfWork"]["name"] == "Konzeption"  # the workspace's first type
    assert [a["firstName"] for a in tasks["Styleguide"]["assignees"]] == ["Ben"]
    entries = client.ok("GET", "/timeentries", params={"filterby": "startDateUtc ge datetime'2026-03-01T00:00:00'",
                                                       "orderby": "startDateUtc"})
    first, second, third = entries
    assert (first["startTimeLocal"], first["duration"], first["isBilled"]) == ("09:30:00", 5400, True)
    assert first["user"]["firstName"] == "Anna" and first["task"]["name"] == "Sitemap"
    assert (second["startTimeLocal"], second["duration"], second["projectId"]) == ("09:00:00", 5400, web["id"])
    assert third["startTimeUtc"] is None and third["isBillable"] is False  # Intern is not billable
    assert len(client.ok("GET", "/timeentries")) == 13
    # The rate limit is back to the defaults after loading; the seeding token is expired.
    assert client.get("/projects").headers["x-ratelimit-limit-minute"] == "1000"
    assert aw.admin.get("/tenants/acme")["login"] == {"email": "anna@acme.de", "consent": "approve"}


def test_seed_reports_unknown_references(aw: AworkSandbox) -> None:
    bad = {"users": [{"first_name": "A", "last_name": "B", "email": "a@x.de"}],
           "time_entries": [{"user": "nobody@x.de", "date": "2026-01-01", "duration": 60}]}
    with pytest.raises(SeedError, match="unknown user"):
        seed_tenant(aw.url, "x", bad)

"""The status page as a person sees it: headless Debian chromium driven by Playwright (no download)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.ops.harness import REPO_ROOT, World
from tests.plugins.seed import EXPECTED_COUNTS, EXPECTED_QUARANTINE, EXPECTED_WARNINGS

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)")


def test_page_in_a_browser_shows_the_seeded_numbers(seeded_world: World, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    token = seeded_world.token()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            # The session cookie the Airflow UI sets at login (SimpleAuthManager's JWT).
            context.add_cookies([{"name": "_token", "value": token, "url": seeded_world.url}])
            page = context.new_page()
            page.goto(f"{seeded_world.url}/hq-sync/status", wait_until="load")
            assert page.title() == "hq-sync status"

            for (tenant, source), counts in EXPECTED_COUNTS.items():
                row = page.locator(f'tr[data-tenant="{tenant}"][data-source="{source}"]')
                seen = {f: row.locator(f'td[data-count="{f}"]').inner_text().strip() for f in counts}
                assert seen == {f: str(v) for f, v in counts.items()}, (tenant, source)
                for reason, n in EXPECTED_QUARANTINE.get((tenant, source), {}).items():
                    item = row.locator(f'li[data-reason="{reason}"]')
                    assert item.locator('[data-field="count"]').inner_text() == str(n)
                    assert "oldest" in item.inner_text()
                    assert item.get_attribute("data-outcome") == "held_back"
                for reason, n in EXPECTED_WARNINGS.get((tenant, source), {}).items():
                    item = row.locator(f'td[data-field="warned"] li[data-reason="{reason}"]')
                    assert item.locator('[data-field="count"]').inner_text() == str(n)
            assert page.locator('[data-total="config_errors"]').inner_text() == "1"
            assert page.locator('[data-total="held_back"]').inner_text() == "17"
            assert page.locator('[data-total="written_with_warning"]').inner_text() == "2"
            assert "sources.personio.schedule" in page.locator("#config-errors").inner_text()
            acme_awork = page.locator('tr[data-tenant="acme"][data-source="awork"]')
            assert "UTC" in acme_awork.locator('[data-field="next_run"]').inner_text()

            # The filter narrows the table to what a person types.
            page.fill("#filter", "beta")
            assert page.locator("#status tbody tr:visible").count() == 1
            page.fill("#filter", "")

            out = REPO_ROOT / "test-output"
            out.mkdir(exist_ok=True)
            page.screenshot(path=str(tmp_path / "status-page.png"), full_page=True)
            shutil.copy(tmp_path / "status-page.png", out / "status-page.png")

            # Drill down from the number to the records.
            acme_awork.locator('li[data-reason="unknown_email"] a').click()
            page.wait_for_selector("tr.cause")
            assert page.locator("#count").inner_text() == "12"
            causes = page.locator("tr.cause")
            assert causes.count() == 2 and causes.first.get_attribute("data-cause") == "anna.neu@acme.de"
            assert "anna.neu@acme.de and ben.neu@acme.de to release 12 entries, 18 h" in page.locator('[data-field="sentence"]').inner_text()
            causes.first.locator("summary").click()
            assert causes.first.locator("tr[data-source-id]:visible").count() == 8
            page.screenshot(path=str(out / "status-quarantine.png"), full_page=True)

            # Charts per tenant and source: inline SVG drawn by the server, nothing fetched from elsewhere.
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(seeded_world.url) else None)
            page.goto(f"{seeded_world.url}/hq-sync/status", wait_until="load")
            page.locator('tr[data-tenant="acme"][data-source="awork"] a[data-field="charts"]').click()
            page.wait_for_selector("svg.chart")
            section = page.locator('section[data-source="awork"]')
            assert section.locator("svg.chart").count() == 4
            records = section.locator('svg[data-chart="records"]')
            assert records.locator("g[data-point]").count() == 15  # 14 older runs and the latest
            assert records.locator('rect[data-series="held_back"]').count() >= 10
            assert section.locator('[data-field="backlog"]').inner_text() == "14"  # held back only
            assert section.locator("svg.chart").first.bounding_box()["width"] > 300  # really drawn
            page.screenshot(path=str(out / "status-charts.png"), full_page=True)
            assert outside == []

            # Inside the Airflow UI: the navigation entry opens the page in the UI's frame ...
            page.goto(f"{seeded_world.url}/plugin/hq-sync-status", wait_until="load")
            frame = page.frame_locator("iframe").first
            frame.locator('tr[data-tenant="acme"][data-source="personio"]').wait_for(timeout=30000)
            assert frame.locator('tr[data-tenant="acme"][data-source="personio"] td[data-count="created"]').inner_text() == "5"
            page.screenshot(path=str(out / "status-in-airflow-ui.png"), full_page=True)
            # ... and the drill-down stays inside it: the UI's address follows the frame, and opening that
            # address again shows the drill-down inside the UI.
            frame.locator('tr[data-tenant="acme"][data-source="awork"] li[data-reason="unknown_email"] a').click()
            frame.locator("tr.cause").first.wait_for(timeout=30000)
            page.wait_for_url("**/plugin/hq-sync-status/hq-sync/status/quarantine?**", timeout=30000)
            deep = page.url
            page.goto(deep, wait_until="load")
            page.frame_locator("iframe").first.locator("tr.cause").first.wait_for(timeout=30000)
            assert page.locator("iframe").count() == 1 and "/plugin/hq-sync-status/" in page.url  # the UI around it
            page.screenshot(path=str(out / "status-quarantine-in-airflow-ui.png"), full_page=True)
            # A link to an Airflow page inside the sandboxed frame moves the UI itself.
            page.goto(f"{seeded_world.url}/plugin/hq-sync-status", wait_until="load")
            frame = page.frame_locator("iframe").first
            frame.locator("#config-errors a.ui").first.click()
            page.wait_for_url("**/dags/tenant_config_error__gamma**", timeout=30000)

            # The DAG page's "Sync charts" tab: the charts of that DAG's tenant source, inside the UI.
            page.goto(f"{seeded_world.url}/dags/awork_times__acme/plugin/hq-sync-charts", wait_until="load")
            tab = page.frame_locator("iframe").first
            tab.locator('section[data-source="awork"] svg.chart').first.wait_for(timeout=30000)
            assert tab.locator("svg.chart").count() == 4
            page.screenshot(path=str(out / "status-charts-dag-tab.png"), full_page=True)
        finally:
            browser.close()


def test_a_broken_tenant_file_stays_on_the_page_with_its_last_valid_configuration(seeded_world: World) -> None:
    """Issue 15: the tenant's rows, its last data, the error and "running on the last valid configuration"."""
    import requests
    import yaml
    from playwright.sync_api import sync_playwright

    token = seeded_world.token()
    auth = {"Authorization": f"Bearer {token}"}
    file = seeded_world.tenants_dir / "acme.yaml"
    valid = file.read_text()
    try:
        requests.get(f"{seeded_world.url}/hq-sync/status.json", headers=auth, timeout=60).raise_for_status()  # copy stored
        broken = yaml.safe_load(valid)
        broken["sources"]["awork"]["phase_mode"] = "by_colour"
        file.write_text(yaml.safe_dump(broken))
        body = requests.get(f"{seeded_world.url}/hq-sync/status.json", headers=auth, timeout=60).json()
        [acme] = [t for t in body["tenants"] if t["id"] == "acme"]
        assert acme["config_error"]["last_valid_from"] and acme["config_error"]["problems"][0]["field"] == "sources.awork.phase_mode"
        assert [s["counts"] for s in acme["sources"]] == [EXPECTED_COUNTS[("acme", "personio")], EXPECTED_COUNTS[("acme", "awork")]]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
            try:
                context = browser.new_context(viewport={"width": 1600, "height": 900})
                context.add_cookies([{"name": "_token", "value": token, "url": seeded_world.url}])
                page = context.new_page()
                page.goto(f"{seeded_world.url}/hq-sync/status", wait_until="load")
                row = page.locator('tr[data-tenant="acme"][data-source="awork"]')
                note = row.locator('[data-field="config_error"]').inner_text()
                assert "sources.awork.phase_mode" in note and "running on the last valid configuration from" in note
                assert row.locator('td[data-count="created"]').inner_text() == str(EXPECTED_COUNTS[("acme", "awork")]["created"])
                assert page.locator('[data-config-error="acme.yaml"] [data-field="last_valid"]').count() == 1
                out = REPO_ROOT / "test-output"
                out.mkdir(exist_ok=True)
                page.screenshot(path=str(out / "status-broken-tenant-last-valid.png"), full_page=True)
            finally:
                browser.close()
    finally:
        file.write_text(valid)

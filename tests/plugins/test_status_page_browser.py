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

            # Inside the Airflow UI: the navigation entry opens the page in the UI's frame.
            page.goto(f"{seeded_world.url}/plugin/hq-sync-status", wait_until="load")
            frame = page.frame_locator("iframe").first
            frame.locator('tr[data-tenant="acme"][data-source="personio"]').wait_for(timeout=30000)
            assert frame.locator('tr[data-tenant="acme"][data-source="personio"] td[data-count="created"]').inner_text() == "5"
            page.screenshot(path=str(out / "status-in-airflow-ui.png"), full_page=True)
        finally:
            browser.close()

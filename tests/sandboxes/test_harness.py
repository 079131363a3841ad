"""The sandbox harness: servers start, answer health checks and log requests."""

import requests

from sandboxes import VENDORS


def test_every_sandbox_answers_its_health_check(sandboxes):
    for vendor in VENDORS:
        body = requests.get(sandboxes.url(vendor) + "/_sandbox/health", timeout=5).json()
        assert body == {"status": "ok", "vendor": vendor}

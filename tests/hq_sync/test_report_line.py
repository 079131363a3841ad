"""The report step's log line (issue 15): readable counts with their reasons, not a Python dict."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from hq_sync.pipelines.steps import report_line
from hq_sync.progress import Progress


def test_counts_with_their_reasons_in_one_line():
    counts = {"created": 12, "updated": 0, "deleted": 1, "skipped": 3, "quarantined": 2, "conflicts": 0,
              "details": {"skipped": {"before_sync_start": 3}, "quarantined": {"unknown_email": 2},
                          "reported": {"task_in_several_lists": 1}}}
    assert report_line(counts) == ("created=12 deleted=1 skipped=3 (before_sync_start=3) quarantined=2 (unknown_email=2) "
                                   "reported: (task_in_several_lists=1)")
    assert report_line({"created": 0, "details": {}}) == "nothing to do"


def test_a_long_step_logs_done_total_rate_and_eta(caplog):
    now = SimpleNamespace(t=0.0)
    progress = Progress("transform acme: absence periods planned", 400, interval=15, clock=lambda: now.t,
                        logger=logging.getLogger("t"))
    with caplog.at_level(logging.INFO, logger="t"):
        for _ in range(400):
            now.t += 0.1
            progress.advance()
        progress.finish()
    assert caplog.messages[0] == "transform acme: absence periods planned: 151/400 (38%), 10.0/s, ETA 25s"
    assert caplog.messages[-1] == "transform acme: absence periods planned: 400 done in 40s (10.0/s)"

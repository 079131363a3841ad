"""Progress lines for long steps and readable summary lines (issue #15)."""

from __future__ import annotations

import logging

from hq_sync.progress import Progress, summary_line


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_logs_at_a_steady_interval_with_rate_and_eta(caplog):
    clock = FakeClock()
    progress = Progress("load reportings", 1000, interval=10, clock=clock, logger=logging.getLogger("t"))
    with caplog.at_level(logging.INFO, logger="t"):
        for _ in range(100):  # 100 records in 5 s: nothing logged yet
            clock.now += 0.05
            progress.advance()
        assert caplog.messages == []
        for _ in range(99):
            clock.now += 0.05
            progress.advance()
        clock.now = 1010.0  # 10 s passed: one line
        progress.advance()
        assert caplog.messages == ["load reportings: 200/1000 (20%), 20.0/s, ETA 40s"]
        clock.now += 30
        progress.advance(800)
        assert caplog.messages[-1] == "load reportings: 1000/1000 (100%), 25.0/s, ETA 0s"
        assert progress.finish() == "load reportings: 1000 done in 40s (25.0/s)"


def test_progress_without_a_total_says_how_many_and_how_fast():
    clock = FakeClock()
    progress = Progress("extract", None, clock=clock)
    clock.now += 4
    progress.advance(10)
    assert progress.line() == "extract: 10 done, 2.5/s"


def test_summary_line_is_short_and_names_reasons():
    counts = {"created": 12, "updated": 0, "deleted": 1, "quarantined": 2,
              "details": {"quarantined": {"unknown_email": 2}, "skipped": {}}}
    assert summary_line(counts) == "created=12 deleted=1 quarantined=2 details: (quarantined: (unknown_email=2))"
    assert summary_line({"created": 0}) == "nothing to do"
    assert summary_line({"mode": "initial", "requests": 3}) == "mode=initial requests=3"

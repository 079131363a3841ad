"""Errors shared across the library."""

from __future__ import annotations


class NotRetryable(RuntimeError):
    """An error a retry cannot fix (a refused file, drift found, bad input): the task fails at once
    instead of retrying (``hq_sync.airflow.tasks`` turns it into Airflow's fail-fast exception)."""

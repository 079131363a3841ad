"""One explanation per differing pair (docs/audit.md lists the order), shared by both audits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hq_sync.audit.common import who
from hq_sync.audit.model import AuditKind, Cell, Explanation, Pair
from hq_sync.staging import repository as repo
from hq_sync.staging.states import LinkState

SEEN_SLACK = timedelta(hours=1)  # a change this long before a run completed may not have been read by it


def explain(
    pair: Pair,
    link: repo.Link | None,
    hq_record: dict[str, Any] | None,
    written: dict[Cell, float],
    items: dict[str, list[dict[str, Any]]],
    synced_at: datetime | None,
    emails: dict[int, str],
    state: str,
    changed: datetime | None,
    what: str,
    written_text: str = "",
) -> None:
    """Give a differing pair its one explanation (docs/audit.md, in this order).

    ``state`` of the source record: ``present``, ``deleted`` (confirmed by the sync), ``gone_unconfirmed``
    (missing from the source, not yet confirmed) or ``unseen`` (not in staging); ``changed``: when
    it last changed (or was found deleted); ``written``: what the sync wrote to HQ (its link).
    """
    ref = pair.source_ref or "?"
    unit = "d" if pair.kind is AuditKind.ABSENCE_DAYS else "h"
    noun = "absence" if pair.kind is AuditKind.ABSENCE_DAYS else "reporting"
    if link is not None and link.state == LinkState.SYNCED and link.hq_id:
        if hq_record is None:
            pair.explain(
                Explanation.UNEXPLAINED,
                "deleted_in_hq",
                f"HQ {noun} {link.hq_id} ({what} {ref}: {_fmt(written, unit) or written_text}) was written by "
                f"the sync on {_day(link.synced_at)} and is gone from HQ (deleted, or moved out of the audited window)",
            )
            return
        if pair.record_changed or (written and pair.hq != written):
            changer = who(hq_record.get("UpdatedBy"), emails)
            pair.explain(
                Explanation.UNEXPLAINED,
                "changed_in_hq",
                f"HQ {noun} {pair.hq_ref} was changed in HQ by {changer} on "
                f"{str(hq_record.get('UpdatedOn') or '?')[:16]}: "
                f"the sync wrote {_fmt(written, unit) or written_text}, HQ holds {_fmt(pair.hq, unit) or 'no days'}"
                f"{_record_change(hq_record, written_text)}",
                changer,
            )
            return
    reasons = items.get(ref, [])
    billed = [i for i in reasons if i["reason"] == "billed_conflict"]
    if billed:
        pair.explain(Explanation.BILLED_CONFLICT, "billed_conflict", billed[0]["detail"])
        return
    if reasons:
        pair.explain(Explanation.QUARANTINE, reasons[0]["reason"], reasons[0]["detail"])
        return
    if link is not None and link.state == LinkState.PENDING:
        pair.explain(
            Explanation.AWAITING_SYNC,
            "write_in_progress",
            f"{what} {ref}: a write to HQ was under way at the last run; the next run settles it",
        )
        return
    if synced_at is None:
        pair.explain(Explanation.AWAITING_SYNC, "never_synced", f"{what} {ref}: no run of its sync has completed yet")
        return
    if state == "gone_unconfirmed":
        pair.explain(
            Explanation.AWAITING_SYNC,
            "deletion_not_confirmed",
            f"{what} {ref} is missing from the source; the sync confirms deletions one by one (old records "
            "within a day) and then removes its HQ record",
        )
        return
    if state == "unseen" or changed is None or changed > synced_at - SEEN_SLACK:
        when = f"at {_day(changed, 16)}" if changed else "(not read by the sync yet)"
        pair.explain(
            Explanation.AWAITING_SYNC,
            "changed_after_last_run",
            f"{what} {ref} ({_fmt(pair.source, unit) or 'deleted'}) changed in the source {when}, around or after the "
            f"last completed sync run at {_day(synced_at, 16)}; the next run applies it",
        )
        return
    now_in_hq = "is not in HQ" if not pair.hq else f"differs from HQ ({_fmt(pair.hq, unit)})"
    pair.explain(
        Explanation.UNEXPLAINED,
        "not_applied",
        f"{what} {ref} ({_fmt(pair.source, unit) or 'deleted in the source'}) {now_in_hq}, although the last "
        f"completed sync run ({_day(synced_at, 16)}) came after its last change",
    )


def _fmt(side: dict[Cell, float], unit: str = "h") -> str:
    return ", ".join(
        f"{q:g} {unit} {c.person} {c.scope_label} {c.month}" for c, q in sorted(side.items(), key=lambda i: i[0].month)
    )


def _day(value: datetime | None, n: int = 10) -> str:
    return value.astimezone(UTC).isoformat()[:n].replace("T", " ") if value else "?"


def _record_change(hq_record: dict[str, Any], written_text: str) -> str:
    """For absences: HQ's Start/End when the days alone do not show the change."""
    if not written_text or "Start" not in hq_record:
        return ""
    start, end = str(hq_record.get("Start"))[:16], str(hq_record.get("End"))[:16]
    return f" ({written_text} → {hq_record.get('Type')} {start} – {end})"

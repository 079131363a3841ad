"""The one create-exactly-once mechanism (hq_sync.load.exactly_once) against the real HQ sandbox
over HTTP and a real staging database: a first create costs one POST and no lookup; a lost answer
is found and adopted, never booked twice; a pending link from an earlier attempt is settled first;
identical twins in one batch stay two objects; a system problem is raised only after the batch's
successes were confirmed."""

from __future__ import annotations

from typing import Any

import pytest

from hq_sync.clients.hq import HqClient
from hq_sync.clients.http import AmbiguousWriteError, RetryPolicy, TransientError
from hq_sync.load.absences import same_absence
from hq_sync.load.concurrency import WritePool, workers_of
from hq_sync.load.exactly_once import Create, ExactlyOnce, LinkSpec
from hq_sync.staging import repository as repo
from sandboxes.hq.seed import seed_tenant
from sandboxes.testing import SandboxServers

TOKEN = "hq-once-sync"
SPEC = LinkSpec("once", "personio", "absence_period", "Absence")


@pytest.fixture
def hq(fresh_sandboxes: SandboxServers) -> tuple[SandboxServers, HqClient, int]:
    seed_tenant(fresh_sandboxes.url("hq"), "once", {
        "sync_token": TOKEN, "users": [{"name": "Anna Schmidt", "email": "anna@once.example"}],
    })
    client = HqClient(fresh_sandboxes.url("hq") + "/v1", TOKEN,
                      retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, timeout=(2.0, 2.0)))
    [user] = client.users()
    return fresh_sandboxes, client, int(user["Id"])


def body(day: int, note: str = "Urlaub") -> dict[str, Any]:
    return {"Type": "Vacation", "Start": f"2026-03-{day:02d}T00:00:00", "End": f"2026-03-{day + 1:02d}T00:00:00",
            "Note": note, "IsApproved": True}


def create(client: HqClient, user: int, source_id: str, b: dict[str, Any], **kwargs: Any) -> Create:
    def find(excluded: set[str]) -> dict[str, Any] | None:
        for absence in client.absences(user):
            if str(absence["Id"]) not in excluded and same_absence(absence, b):
                return absence
        return None

    return Create(source_id=source_id, written={"body": b}, parent=str(user), label="absence",
                  send=lambda: client.create_absence(user, b), find=find, **kwargs)


def absences(client: HqClient, user: int) -> list[tuple[str, str]]:
    return sorted((a["Start"], a.get("Note") or "") for a in client.absences(user))


def links(engine: Any) -> dict[str, repo.Link]:
    with engine.connect() as conn:
        return {l.source_id: l for l in repo.links(conn, SPEC.tenant, SPEC.source, SPEC.entity)}


def test_a_batch_costs_one_post_per_create_and_no_lookup(hq, staging_engine) -> None:
    sb, client, user = hq
    start = sb.admin("hq").requests()[-1]["seq"]
    with WritePool(4) as pool:
        once = ExactlyOnce(staging_engine, SPEC, pool)
        outcomes = once.run([create(client, user, f"p{i}", body(i + 1)) for i in range(12)])
    sent = [(r["method"], r["path"]) for r in sb.admin("hq").requests(since=start)]
    assert sent == [("POST", f"/v1/Users({user})/Absences")] * 12
    assert all(o.ok and not o.adopted for o in outcomes)
    stored = links(staging_engine)
    assert {l.state for l in stored.values()} == {"synced"}
    assert {l.hq_id for l in stored.values()} == {o.hq_id for o in outcomes} and len(stored) == 12
    assert len(absences(client, user)) == 12


def test_a_lost_answer_is_adopted_not_booked_twice(hq, staging_engine) -> None:
    sb, client, user = hq
    sb.admin("hq").add_fault(path="/Absences$", method="POST", mode="lose_answer", count=2)
    with WritePool(4) as pool:
        outcomes = ExactlyOnce(staging_engine, SPEC, pool).run([create(client, user, f"p{i}", body(i + 1)) for i in range(6)])
    assert sum(o.adopted for o in outcomes) == 2
    assert len(absences(client, user)) == 6
    assert len({o.hq_id for o in outcomes}) == 6


def test_identical_twins_in_one_batch_stay_two_even_when_an_answer_is_lost(hq, staging_engine) -> None:
    """The matcher runs after every send of the batch: it can never adopt the twin a worker made."""
    sb, client, user = hq
    sb.admin("hq").add_fault(path="/Absences$", method="POST", mode="lose_answer", count=1)
    with WritePool(4) as pool:
        outcomes = ExactlyOnce(staging_engine, SPEC, pool).run(
            [create(client, user, "twin-a", body(5)), create(client, user, "twin-b", body(5))])
    assert len({o.hq_id for o in outcomes}) == 2
    assert absences(client, user) == [("2026-03-05T00:00:00", "Urlaub")] * 2


def test_a_pending_link_from_an_earlier_attempt_adopts_and_a_first_create_never_does(hq, staging_engine) -> None:
    sb, client, user = hq
    client.create_absence(user, body(9))  # what an earlier attempt created before its answer was lost
    client.create_absence(user, body(12))  # an identical absence somebody entered by hand
    start = sb.admin("hq").requests()[-1]["seq"]
    outcomes = ExactlyOnce(staging_engine, SPEC, WritePool(2)).run([
        create(client, user, "earlier", body(9), settle_first=True),
        create(client, user, "first", body(12)),
    ])
    earlier, first = outcomes
    assert earlier.adopted and not first.adopted
    methods = [r["method"] for r in sb.admin("hq").requests(since=start)]
    assert methods.count("POST") == 1 and methods.count("GET") == 1
    assert absences(client, user) == [("2026-03-09T00:00:00", "Urlaub"), ("2026-03-12T00:00:00", "Urlaub"),
                                      ("2026-03-12T00:00:00", "Urlaub")]


def test_pending_links_are_durable_before_the_first_write_is_sent(hq, staging_engine) -> None:
    sb, client, user = hq
    seen: list[dict[str, str]] = []

    def send_after_looking(b: dict[str, Any]) -> Any:
        def send() -> dict[str, Any]:
            seen.append({sid: l.state for sid, l in links(staging_engine).items()})
            return client.create_absence(user, b)
        return send

    creates = [create(client, user, f"p{i}", body(i + 1)) for i in range(3)]
    for c in creates:
        c.send = send_after_looking(c.written["body"])
    ExactlyOnce(staging_engine, SPEC, WritePool(1)).run(creates)
    assert seen[0] == {"p0": "pending", "p1": "pending", "p2": "pending"}


def test_a_system_problem_is_raised_after_the_batch_was_confirmed(hq, staging_engine) -> None:
    sb, client, user = hq
    # The first create's answer is a 503 (outcome unknown) and HQ cannot be read to settle it.
    sb.admin("hq").add_fault(path="/Absences$", method="POST", mode="503", count=1)
    sb.admin("hq").add_fault(path="/Absences$", method="GET", mode="500", count=10)
    with pytest.raises((AmbiguousWriteError, TransientError)):
        ExactlyOnce(staging_engine, SPEC, WritePool(1)).run([create(client, user, f"p{i}", body(i + 1)) for i in range(3)])
    stored = links(staging_engine)
    assert sorted(l.state for l in stored.values()) == ["pending", "synced", "synced"]
    sb.admin("hq").clear_faults()
    assert len(absences(client, user)) == 2  # nothing booked twice; the pending one is settled next time


def test_a_refused_create_is_an_outcome_not_an_error(hq, staging_engine) -> None:
    sb, client, user = hq
    bad = {**body(3), "Type": "NoSuchType"}
    outcomes = ExactlyOnce(staging_engine, SPEC, WritePool(2)).run(
        [create(client, user, "bad", bad), create(client, user, "good", body(4))])
    assert outcomes[0].refused is not None and outcomes[0].refused.status == 400
    assert outcomes[1].ok


def test_write_concurrency_is_validated() -> None:
    assert workers_of(None) == 8 and workers_of("3") == 3
    for wrong in (0, 65, "many"):
        with pytest.raises(ValueError, match="write_concurrency"):
            workers_of(wrong)

"""The one home of time-stamp parsing (``hq_sync.timeutil``): each vendor format as the contracts
in ``../shared/api`` show it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from hq_sync.timeutil import (
    parse_awork_timestamp,
    parse_day,
    parse_hq_datetime,
    parse_http_date,
    parse_personio_local,
    parse_time_of_day,
    parse_timestamp,
)

PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-09-03T20:28:39.5961826Z", datetime(2023, 9, 3, 20, 28, 39, 596182, UTC)),  # awork, .NET 7 digits
        ("2022-03-10T16:25:09.1Z", datetime(2022, 3, 10, 16, 25, 9, 100000, UTC)),
        ("2026-05-03T10:00:00Z", datetime(2026, 5, 3, 10, 0, tzinfo=UTC)),  # Personio updated_at
        ("2025-07-24T14:28:39.5966465+02:00", datetime(2025, 7, 24, 14, 28, 39, 596646, PLUS_TWO)),
        ("2018-01-26T18:15:00+01:00", datetime(2018, 1, 26, 17, 15, tzinfo=UTC)),  # HQ UpdatedOn
        ("2026-11-29T12:00:00", datetime(2026, 11, 29, 12, 0, tzinfo=UTC)),  # naive: UTC
    ],
)
def test_an_instant_in_any_vendors_iso_form(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected and parsed is not None and parsed.tzinfo is not None


def test_an_empty_instant_is_none_and_junk_is_an_error() -> None:
    assert parse_timestamp(None) is None and parse_timestamp("") is None
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


@pytest.mark.parametrize("junk", [None, "", "  ", 42, "not a time", {"updatedOn": "2026-01-01T00:00:00Z"}])
def test_an_awork_time_stamp_is_read_leniently(junk: object) -> None:
    assert parse_awork_timestamp(junk) is None


def test_an_awork_time_stamp_is_utc_with_microseconds() -> None:
    moment = parse_awork_timestamp(" 2025-07-24T14:28:39.5966465+02:00 ")
    assert moment == datetime(2025, 7, 24, 12, 28, 39, 596646, UTC) and moment.tzinfo is UTC


@pytest.mark.parametrize("text", ["2026-06-10T00:00:00", "2026-06-10T00:00:00.000", "2026-06-10T00:00:00Z"])
def test_personios_date_time_is_local_wall_time(text: str) -> None:
    assert parse_personio_local(text) == datetime(2026, 6, 10)  # naive: the zone is the period's


def test_hq_start_and_end_keep_their_kind() -> None:
    assert parse_hq_datetime("2023-11-14T06:00:00Z") == datetime(2023, 11, 14, 6, tzinfo=UTC)  # hour-based
    assert parse_hq_datetime("2025-03-01T00:00:00") == datetime(2025, 3, 1)  # day-based: naive local
    assert parse_hq_datetime("2025-03-01T12:00:00.0000000") == datetime(2025, 3, 1, 12)


def test_the_day_of_a_date_or_date_time() -> None:
    assert parse_day("2022-03-01T00:00:00Z") == date(2022, 3, 1)  # awork startDateUtc
    assert parse_day("2026-06-05") == date(2026, 6, 5)  # Personio breakdown date
    with pytest.raises(ValueError):
        parse_day("")


def test_the_time_of_day_of_an_awork_entry() -> None:
    assert parse_time_of_day("09:21:00") == time(9, 21)  # awork startTimeUtc
    assert parse_time_of_day("09:21:00.1234567") == time(9, 21)
    with pytest.raises(ValueError):
        parse_time_of_day("")


def test_the_http_date_header() -> None:
    assert parse_http_date("Sun, 29 Nov 2026 11:44:27 GMT") == datetime(2026, 11, 29, 11, 44, 27, tzinfo=UTC)
    assert parse_http_date("Sun, 29 Nov 2026 12:44:27 +0100") == datetime(2026, 11, 29, 11, 44, 27, tzinfo=UTC)
    assert parse_http_date(None) is None and parse_http_date("soon") is None

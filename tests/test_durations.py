"""Durations, points in time, RFC 3339 helpers and id validation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinvk.clock import format_rfc3339, parse_rfc3339
from clinvk.durations import parse_duration, parse_when
from clinvk.errors import ExitCode, UsageError
from clinvk.ids import is_valid_id, new_id, validate_id_or_prefix

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
NOW = datetime(2026, 11, 22, 23, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text, expected",
    [("90m", timedelta(minutes=90)), ("12h", timedelta(hours=12)), ("30d", timedelta(days=30)),
     ("2w", timedelta(weeks=2)), ("45s", timedelta(seconds=45)), ("  7d \n", timedelta(days=7))],
)
def test_parse_duration_examples(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(UNITS)))
def test_parse_duration_round_trip(n: int, unit: str) -> None:
    assert parse_duration(f"{n}{unit}") == timedelta(**{UNITS[unit]: n})


@pytest.mark.parametrize(
    "text", ["", "x", "-5d", "5", "d", "5 days", "1.5h", "5y", "5D", "99999999999999w",
             "9" * 5000 + "d", "٣d", "5d5h", "+5d"],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_duration(text)
    assert "e.g. 90m, 12h, 30d or 2w" in info.value.message
    assert info.value.exit_code == ExitCode.USAGE


@given(st.text(max_size=30))
def test_parse_duration_garbage_is_usage_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except UsageError as exc:
        assert "e.g. 90m" in exc.message
    else:
        assert isinstance(value, timedelta)


def test_parse_when() -> None:
    assert parse_when("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert parse_when("7d", NOW) == NOW - timedelta(days=7)
    assert parse_when("2026-11-01T12:00:00Z", NOW) == datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    assert parse_when("2026-11-01T14:00:00+02:00", NOW).hour == 12
    for bad in ("yesterday", "2026-13-01", "", "2026-11-01Tgarbage"):
        with pytest.raises(UsageError, match="2026-11-01"):
            parse_when(bad, NOW)


@given(st.datetimes(timezones=st.just(timezone.utc)))
def test_rfc3339_round_trip(dt: datetime) -> None:
    text = format_rfc3339(dt)
    assert text.endswith("Z") and len(text) == 20
    assert parse_rfc3339(text) == dt.replace(microsecond=0)


def test_ids() -> None:
    sid = new_id()
    assert is_valid_id(sid) and len(sid) == 32 and sid == sid.lower()
    assert new_id() != sid
    assert validate_id_or_prefix(sid.upper()) == sid
    assert validate_id_or_prefix(" abcd ") == "abcd"


@pytest.mark.parametrize(
    "bad", ["../../etc", "abc", "", "zzzz", "abcd/../x", "/etc/passwd", "abcd\0", "ａｂｃｄ",
            "abcdé", "a" * 33, ".abcd", "abcd.json", "ab cd"],
)
def test_bad_prefixes_refused(bad: str) -> None:
    with pytest.raises(UsageError):
        validate_id_or_prefix(bad)


@given(st.text())
def test_validated_prefix_is_always_safe_hex(text: str) -> None:
    try:
        out = validate_id_or_prefix(text)
    except UsageError:
        return
    assert 4 <= len(out) <= 32 and set(out) <= set("0123456789abcdef")


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_time_past_the_dates_there_are_is_a_bad_time(stamp: str) -> None:
    """In range as written, out of range in UTC: a ValueError (skipped, or exit 2), never an
    OverflowError (an internal error in adopt, show --transcript, list --since)."""
    from clinvk.backends._jsonl import as_epoch

    from clinvk.clock import time_or_none

    with pytest.raises(ValueError, match="out of range"):
        parse_rfc3339(stamp)
    assert time_or_none(stamp) is None and as_epoch(stamp) is None
    with pytest.raises(UsageError, match="invalid time"):
        parse_when(stamp)

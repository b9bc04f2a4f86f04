"""Durations such as 90m, 12h, 30d, 2w, and points in time given as a date, timestamp or 'ago'."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from clinvk.clock import as_utc, parse_rfc3339, utc_now
from clinvk.errors import UsageError

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"([0-9]{1,12})\s*([smhdw])")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DURATION_HINT = "use a number and a unit, e.g. 90m, 12h, 30d or 2w"


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_duration(value: str) -> timedelta:
    """'90m' -> timedelta(minutes=90); units s, m, h, d, w; UsageError on anything else."""
    text = value.strip() if isinstance(value, str) else ""
    match = _DURATION.fullmatch(text) if text.isascii() else None
    if match is None:
        raise UsageError(f"invalid duration {_shown(value)!r}: {DURATION_HINT}")
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except (OverflowError, ValueError):
        raise UsageError(f"invalid duration {_shown(value)!r}: too large; {DURATION_HINT}") from None


def parse_when(value: str, now: datetime | None = None) -> datetime:
    """A date (2026-11-01, midnight UTC), an RFC 3339 timestamp, or a duration meaning ago."""
    text = value.strip() if isinstance(value, str) else ""
    if now is None:
        now = utc_now()
    if text.isascii() and _DURATION.fullmatch(text):
        try:
            return as_utc(now) - parse_duration(text)
        except OverflowError:
            pass
    else:
        try:
            if _DATE.fullmatch(text):
                day = datetime.strptime(text, "%Y-%m-%d")
                return day.replace(tzinfo=timezone.utc)
            if len(text) > 10:
                return parse_rfc3339(text)
        except ValueError:
            pass
    raise UsageError(
        f"invalid time {_shown(value)!r}: use a date (2026-11-01), an RFC 3339 timestamp "
        "(2026-11-01T12:00:00Z) or a duration meaning that long ago (7d)"
    )

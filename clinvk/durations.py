"""Durations such as 90m, 12h, 30d, 2w, and points in time given as a date, timestamp or 'ago'."""

from __future__ import annotations

import math

from clinvk.errors import UsageError

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:  # nor re or datetime: `--timeout` (parse_timeout) needs neither
    from datetime import datetime, timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = r"([0-9]{1,12})\s*([smhdw])"  # compiled on first use (re's own cache)
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
DURATION_HINT = "use a number and a unit, e.g. 90m, 12h, 30d or 2w"


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_duration(value: str) -> timedelta:
    """'90m' -> timedelta(minutes=90); units s, m, h, d, w; UsageError on anything else."""
    import re
    from datetime import timedelta

    text = value.strip() if isinstance(value, str) else ""
    match = re.fullmatch(_DURATION, text) if text.isascii() else None
    if match is None:
        raise UsageError(f"invalid duration {_shown(value)!r}: {DURATION_HINT}")
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except (OverflowError, ValueError):
        raise UsageError(f"invalid duration {_shown(value)!r}: too large; {DURATION_HINT}") from None


def parse_age(value: str) -> timedelta:
    """A positive duration for `sessions clean --older-than`. Zero is refused: "older than
    nothing" would delete every session, while `retention_days: 0` means keep everything."""
    age = parse_duration(value)
    if not age:
        raise UsageError(f"invalid duration {_shown(value)!r}: use a positive duration; "
                         "retention_days: 0 keeps everything (`clinvk sessions delete` removes "
                         "sessions by id)")
    return age


def seconds(value: object) -> float:
    """A number of seconds (a timeout) from a flag, a variable or the config: a finite number
    ≥ 0. ValueError on nan, infinity, a negative number, a bool or anything not a number."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError("not a number") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError("too large") from None
    else:
        raise ValueError("not a number")
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    if number < 0:
        raise ValueError("negative")
    return number


SECONDS_HINT = "use a finite number of seconds ≥ 0, e.g. 300 (0 = no timeout)"


def parse_timeout(value: object, what: str = "--timeout") -> float:
    """`seconds` for a user's value; UsageError (exit 2) naming `what` on a bad one."""
    try:
        return seconds(value)
    except ValueError as exc:
        raise UsageError(f"invalid {what} {_shown(value)!r} ({exc}): {SECONDS_HINT}") from None


def parse_when(value: str, now: datetime | None = None) -> datetime:
    """A date (2026-11-01, midnight UTC), an RFC 3339 timestamp, or a duration meaning ago."""
    import re
    from datetime import datetime, timezone

    from clinvk.clock import as_utc, parse_rfc3339, utc_now

    text = value.strip() if isinstance(value, str) else ""
    if now is None:
        now = utc_now()
    if text.isascii() and re.fullmatch(_DURATION, text):
        try:
            return as_utc(now) - parse_duration(text)
        except OverflowError:
            pass
    else:
        try:
            if re.fullmatch(_DATE, text):
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

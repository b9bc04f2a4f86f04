"""Shared pieces of the adapters' line parsers: tolerant JSON-line decoding, typed field
access that never raises, and a base parser with the common Diagnostic/finish logic.

Output read through a pty is messy: lines may end in "\\r", carry ANSI escape sequences
(claude ends with ESC[?25h), or be plain text (warnings, stack traces) among the JSON.
"""

from __future__ import annotations

import os

from clinvk.backends.base import BackendError, Diagnostic, Done, Event, SessionStarted

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

if TYPE_CHECKING:  # pathlib is not imported before a turn's backend is spawned
    from pathlib import Path

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and two-character escapes; patterns
# compiled on first use (re's own cache), after the backend was spawned (nor is `re` imported
# before: it and the `enum` it imports cost ~13 ms before every turn's spawn)
_ANSI_RE = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
_CONTROL_RE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"

DIAGNOSTIC_TAIL = 5  # how many recent diagnostic lines go into an exit-code error


def clean_line(line: str) -> str:
    """The visible text of one output line: no line ending, no ANSI sequences, no text that
    a carriage return overwrote, no other control characters, no surrounding blanks."""
    import re

    text = re.sub(_ANSI_RE, "", line.rstrip("\r\n"))
    if "\r" in text:
        parts = [p for p in text.split("\r") if p.strip()]
        text = parts[-1] if parts else ""
    return re.sub(_CONTROL_RE, "", text).strip()


_NOT_JSON = object()


def decode_line(text: str) -> Any:
    """JSON value of a cleaned line, or the `NOT_JSON` sentinel when it is not JSON."""
    if not text or text[0] not in '{["-0123456789tfn':
        return _NOT_JSON
    import json  # imported at the first line read, once the backend runs

    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NOT_JSON


NOT_JSON = _NOT_JSON


# --- typed access that never raises ----------------------------------------------------


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: Any) -> int:
    """A token count: ints as they are, integral finite floats converted, else 0; never < 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, float) and _finite(value) and value.is_integer():
        return max(0, int(value))
    return 0


def as_cost(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if _finite(value) and value >= 0 else None


def _finite(value: float) -> bool:
    """math.isfinite, without importing math before a turn's spawn."""
    return value - value == 0.0  # inf - inf and nan - nan are nan


def as_epoch(value: Any) -> float | None:
    """An RFC 3339 timestamp as epoch seconds; None when it is not a string or not a time."""
    from clinvk.clock import parse_rfc3339

    try:
        return parse_rfc3339(value).timestamp() if isinstance(value, str) else None
    except ValueError:
        return None


def home_dir(environ: Mapping[str, str]) -> Path:
    """HOME from the given environment, else the current user's home."""
    from pathlib import Path

    return Path(home_text(environ))


def home_text(environ: Mapping[str, str]) -> str:
    """home_dir as a string (no pathlib before a turn's backend is spawned)."""
    return environ.get("HOME") or os.path.expanduser("~")


_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ID_CHARS = _ALNUM | frozenset("._-")  # an id: [A-Za-z0-9][A-Za-z0-9._-]{0,199}


def is_safe_id(session_id: object) -> bool:
    """True for an id that can be put into a file name or glob pattern as it is."""
    return (isinstance(session_id, str) and 0 < len(session_id) <= 200
            and session_id[0] in _ALNUM and set(session_id) <= _ID_CHARS)


def read_first_json_line(path: Path) -> dict[str, Any]:
    """The first line of a JSONL file as an object ({} when unreadable or not an object)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            first = fh.readline(1_000_000)
    except OSError:
        return {}
    return as_dict(decode_line(clean_line(first)))


# --- the common parser skeleton -------------------------------------------------------


class JsonLineParser:
    """Base for the backends' parsers: cleans each line, turns non-JSON (or non-object JSON)
    into Diagnostic events, hands objects to `handle`, and implements `finish`."""

    name = "backend"

    def __init__(self) -> None:
        self.done = False
        self.fatal_seen = False
        self.session_id: str | None = None
        self.model: str | None = None
        self.diagnostics: list[str] = []

    def feed(self, line: str) -> list[Event]:
        if not isinstance(line, str):
            return []
        value = _NOT_JSON
        if line[:1] == "{":  # the common case, a clean JSON line: parsed as it is, no regex
            import json  # imported at the first line read, once the backend runs

            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                pass
        text = line
        if value is _NOT_JSON:
            text = clean_line(line)
            if not text:
                return []
            value = decode_line(text)
        if not isinstance(value, dict):
            self.diagnostics = [*self.diagnostics[-(DIAGNOSTIC_TAIL - 1) :], text[:300]]
            return [Diagnostic(text)]
        events = self.handle(value)
        for event in events:
            if isinstance(event, Done):
                self.done = True
            elif isinstance(event, BackendError) and event.fatal:
                self.fatal_seen = True
        return events

    def started(self, session_id: Any, model: Any = None) -> list[Event]:
        """SessionStarted when the backend names a session id not seen yet (with the model
        it names, else the one known), else nothing."""
        session_id = as_str(session_id)
        if not session_id or session_id == self.session_id:
            return []
        self.session_id = session_id
        self.model = as_str(model) or self.model
        return [SessionStarted(session_id, self.model)]

    def handle(self, obj: dict[str, Any]) -> list[Event]:  # pragma: no cover - abstract
        raise NotImplementedError

    def finish(self, exit_code: int | None) -> list[Event]:
        events: list[Event] = []
        if exit_code and not self.fatal_seen:
            message = f"{self.name} exited with code {exit_code}"
            if self.diagnostics:
                message += ": " + " | ".join(self.diagnostics)
            events.append(BackendError(message, fatal=True))
            self.fatal_seen = True
        if not self.done:
            events.append(Done())
            self.done = True
        return events

"""Text from sessions, bundles, config files and users made safe to print.

A title, tag, prompt or path may hold terminal control sequences (an OSC 52 clipboard write,
a window title, a screen clear, a C1 CSI, a right-to-left override). Everything clinvk prints
for people goes through `printable`, which shows such characters escaped (`\\x1b`, `\\x9b`,
`\\u202e`); JSON output goes through `json_text`, which writes the same characters as JSON
`\\u` escapes, so that the value a parser reads is exactly the stored one. The backend's own
streamed reply (text mode) is not clinvk's text and is passed through as it comes.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL; bidi embeddings, overrides, isolates and marks; line and
# paragraph separators
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
_ANY = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_KEEP_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")  # keeps \t and \n
_JSON_RAW = re.compile(f"[\x7f-\x9f{_BIDI}]")  # what json.dumps(ensure_ascii=False) leaves raw
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: object, *, lines: bool = False) -> str:
    """`text` with every control character shown escaped; with `lines`, tabs and line breaks
    (but not carriage returns) are kept, for multi-line text such as a conversation."""
    value = text if isinstance(text, str) else str(text)
    return (_KEEP_LINES if lines else _ANY).sub(_escape, value)


def json_text(dumped: str) -> str:
    """JSON text (from json.dumps) with the control and bidi characters JSON leaves raw written
    as `\\uXXXX` escapes: the same JSON value, harmless on a terminal."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)

"""Text from sessions, bundles, config files and users made safe to print.

A title, tag, prompt or path may hold terminal control sequences (an OSC 52 clipboard write,
a window title, a screen clear, a C1 CSI, a right-to-left override). Everything clinvk prints
for people goes through `printable`, which shows such characters escaped (`\\x1b`, `\\x9b`,
`\\u202e`; a lone surrogate, standing for a byte that was not UTF-8, as that byte: `\\xff`);
JSON output goes through `json_text`, which writes the same characters as JSON `\\u`
escapes, so that the value a parser reads is exactly the stored one. The backend's own
streamed reply (text mode) is not clinvk's text and is passed through as it comes.
A command line (`--dry-run`, `-v`) goes through `shell_line`: inert on a terminal, and the same
arguments when pasted into bash or zsh.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# C0 and C1 controls and DEL; bidi embeddings, overrides, isolates and marks; line and
# paragraph separators
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
# lone surrogates: an argument's, a path's or stdin's undecodable byte (surrogateescape)
_SURROGATES = "\ud800-\udfff"
# patterns, compiled on first use (re's own cache): a turn's launch path prints nothing
_ANY = f"[\x00-\x1f\x7f-\x9f{_BIDI}{_SURROGATES}]"
_KEEP_LINES = f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_SURROGATES}]"  # keeps \t, \n
_JSON_RAW = f"[\x7f-\x9f{_BIDI}]"  # what json.dumps(ensure_ascii=False) leaves raw
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for the byte code - 0xDC00
        code -= 0xDC00
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: object, *, lines: bool = False) -> str:
    """`text` with every control character shown escaped; with `lines`, tabs and line breaks
    (but not carriage returns) are kept, for multi-line text such as a conversation."""
    value = text if isinstance(text, str) else str(text)
    return re.sub(_KEEP_LINES if lines else _ANY, _escape, value)


def json_text(dumped: str) -> str:
    """JSON text (from json.dumps) with the control and bidi characters JSON leaves raw written
    as `\\uXXXX` escapes: the same JSON value, harmless on a terminal."""
    return re.sub(_JSON_RAW, lambda m: f"\\u{ord(m.group()):04x}", dumped)


_ANSI_C = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _ansi_c(char: str) -> str:
    """One character inside bash's $'…': as it is, or escaped as the bytes it stands for
    (its UTF-8; an undecodable byte's surrogate as that byte), whatever the shell's locale."""
    named = _ANSI_C.get(char)
    if named is not None:
        return named
    if not re.match(_ANY, char):
        return char
    data = char.encode("utf-8", "surrogateescape" if "\udc80" <= char <= "\udcff"
                       else "surrogatepass")
    return "".join(f"\\x{byte:02x}" for byte in data)


def shell_quote(arg: str) -> str:
    """`arg` for a shell command line: shlex-quoted, or, when it holds a control character
    (a line break, an escape) or an undecodable byte, ANSI-C quoted (`$'fix:\\n- a'`, bash
    and zsh), which a shell reads back as the same bytes and which prints nothing raw."""
    if not re.search(_ANY, arg):
        import shlex

        return shlex.quote(arg)
    return "$'" + "".join(_ansi_c(char) for char in arg) + "'"


def shell_line(argv: Iterable[str]) -> str:
    """A command line a shell reads back as exactly `argv` (see `shell_quote`)."""
    return " ".join(shell_quote(arg) for arg in argv)

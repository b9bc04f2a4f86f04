"""The backend CLI versions clinvk was tested with (the end-to-end suite runs on them).

claude 2.1.197 is what `npm install -g @anthropic-ai/claude-code` gives on node 20;
2.1.330 is the version the suite pins. Versions between the two are taken as tested.
"""

from __future__ import annotations

import re

TESTED: dict[str, tuple[str, str]] = {
    "claude": ("2.1.197", "2.1.330"),
    "codex": ("0.169.0", "0.169.0"),
    "gemini": ("0.61.0", "0.61.0"),
}

_VERSION = re.compile(r"(?<![\d.])(\d+)\.(\d+)\.(\d+)(?![\d.]*\d)")


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """The first `X.Y.Z` in a `--version` line ("2.1.330 (Claude Code)", "codex-cli 0.169.0")."""
    match = _VERSION.search(text or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def range_text(adapter: str) -> str | None:
    """"2.1.197–2.1.330" or "0.169.0"; None for an adapter without a table entry."""
    low, high = TESTED.get(adapter, (None, None))
    if low is None:
        return None
    return low if low == high else f"{low}–{high}"


def is_tested(adapter: str, version_text: str | None) -> bool | None:
    """Whether the version is within the tested range; None when either is unknown."""
    bounds = TESTED.get(adapter)
    version = parse_version(version_text)
    if bounds is None or version is None:
        return None
    low, high = (parse_version(b) for b in bounds)
    return low <= version <= high  # type: ignore[operator]

"""The token-usage vocabulary, one spelling from a backend adapter's `Usage` to the session
file (SPEC "Session JSON": `token_usage` and each turn's `usage`) and the index's columns,
and the one rule that normalises a usage. A leaf module: it imports nothing of clinvk."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

# what a backend reports (input includes cached input, output includes reasoning)
COUNTED_KEYS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
    "reasoning_tokens",
)
USAGE_KEYS = (*COUNTED_KEYS, "total_tokens")  # as stored: the counted ones and their total


def empty_usage() -> dict[str, int]:
    return dict.fromkeys(USAGE_KEYS, 0)


def with_total(counts: dict[str, int], given_total: Any) -> dict[str, int]:
    """counts with total_tokens = input + output when the usage gave no (non-zero) total."""
    if not given_total:
        counts["total_tokens"] = counts["input_tokens"] + counts["output_tokens"]
    return counts


def normalise_usage(usage: Mapping[str, Any] | None) -> dict[str, int] | None:
    """The six usage counters as non-negative ints (anything else counts 0); total = input +
    output when absent."""
    if usage is None:
        return None
    out = empty_usage()
    for key in USAGE_KEYS:
        value = usage.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            out[key] = int(value)
    return with_total(out, usage.get("total_tokens"))

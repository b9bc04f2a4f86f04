"""What every setting holds when nothing sets it, and how a dotted key is set."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from typing import Any

BUILTIN_BACKENDS = ("claude", "codex", "gemini")

BACKEND_DEFAULTS: dict[str, Any] = {
    "command": None,
    "model": None,
    "extra_flags": [],
    "env": {},
    "enabled": True,
    "adapter": None,
}

DEFAULTS: dict[str, Any] = {
    "default_backend": "claude",
    "timeout_seconds": 0,
    "backends": {name: {**BACKEND_DEFAULTS, "command": name} for name in BUILTIN_BACKENDS},
    "session": {
        "auto_resume": False,
        "retention_days": 30,
        "auto_clean": True,
        "store_token_usage": True,
        "store_prompts": True,
        "default_tags": [],
        "lock_timeout_seconds": 30,
    },
    "output": {"format": "text", "show_tokens": False, "color": "auto", "progress": True},
    "handoff": {"max_chars": 100000},
    "adopt": {"auto": True, "budget_ms": 300},
    "archive": {"enabled": True},
    "prices": {},  # model -> {input, cache_read, cache_write, cache_write_1h, output}, USD per million
}


def set_value(values: dict, dotted: str, value: Any) -> None:
    """values[a][b] = value for the key 'a.b' (maps made on the way)."""
    parts = dotted.split(".")
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value

"""Registry of backend adapters: adding a backend is one module (a subclass of
`base.Adapter` named by a module-level `ADAPTER`) and one line here."""

from __future__ import annotations

from clinvk.backends.base import Adapter

_REGISTRY: dict[str, str] = {
    "claude": "clinvk.backends.claude",
    "codex": "clinvk.backends.codex",
    "gemini": "clinvk.backends.gemini",
}

NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get_adapter(name: str) -> Adapter:
    """The adapter for a backend name; KeyError when there is none."""
    # __import__ rather than importlib.import_module: importlib (and the warnings it
    # imports) is not loaded before a turn's spawn
    module = __import__(_REGISTRY[name], fromlist=["ADAPTER"])
    return module.ADAPTER

"""Signal routing: which handler a signal reaches while clinvk runs a program (the one place
clinvk installs signal handlers, apart from the store lock's own wait)."""

from __future__ import annotations

try:  # CPython's C module: `signal` only wraps it in enums, and `enum` costs ~9 ms before a spawn
    import _signal as signal
except ImportError:  # pragma: no cover - another Python
    import signal

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    Handler = Callable[[int, Any], Any] | int | None

__all__ = ["install", "routed", "signal"]


def install(handlers: Mapping[int, Handler]) -> dict[int, Handler]:
    """Install the handlers; the ones they replace. Outside the main thread no handler can be
    installed: signals are then left alone."""
    old: dict[int, Handler] = {}
    for sig, handler in handlers.items():
        try:
            old[sig] = signal.signal(sig, handler)  # type: ignore[arg-type]
        except ValueError:  # not in the main thread
            pass
    return old


class routed:
    """`with routed(handlers):` the handlers for the duration, the old ones restored after,
    whatever happens (a class: contextlib is not imported before a turn's spawn)."""

    def __init__(self, handlers: Mapping[int, Handler]) -> None:
        self.handlers = handlers
        self.old: dict[int, Handler] = {}

    def __enter__(self) -> None:
        self.old = install(self.handlers)

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self.old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

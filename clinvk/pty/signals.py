"""Signal routing: which handler a signal reaches while clinvk runs a program (the one place
clinvk installs signal handlers, apart from the store lock's own wait)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from typing import Any

    Handler = Callable[[int, Any], Any] | int | None


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


@contextmanager
def routed(handlers: Mapping[int, Handler]) -> Iterator[None]:
    """The handlers for the duration, the old ones restored after, whatever happens."""
    old: dict[int, Handler] = {}
    try:
        old = install(handlers)
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

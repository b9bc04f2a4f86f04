"""Waiting for the store's lock: bounded, interruptible by Ctrl-C, naming the holder.

The lock is an flock of $CLINVK_HOME/store.lock. Its holder writes its pid into the file,
so that a process that waits in vain can say who holds it (a clinvk stopped with Ctrl-Z,
say). Waiting is a blocking flock ended by SIGALRM after the timeout (polling with
LOCK_NB outside the main thread), and while it waits, SIGINT raises KeyboardInterrupt
whatever handler is installed (the runner's own handler only records the signal), so
that Ctrl-C ends the wait with exit 130 -- unless the caller asks for a wait that leaves
SIGINT to the handler installed (`interruptible=False`: the recorder, which must not lose
a turn whose backend ran, see recorder.py).
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from clinvk.errors import StoreError

DEFAULT_TIMEOUT = 30.0  # session.lock_timeout_seconds
POLL = 0.05


class StoreLocked(StoreError):
    """The store's lock was not freed within the wait (exit 1)."""


def try_lock(fd: int) -> bool:
    """Take the lock if it is free; False when another process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def acquire(fd: int, timeout: float, interruptible: bool = True) -> None:
    """Take the lock, waiting at most `timeout` seconds (StoreLocked after that);
    KeyboardInterrupt on Ctrl-C while waiting if `interruptible`, else SIGINT is left to
    the handler installed (one that returns lets the wait go on)."""
    if try_lock(fd):
        return
    if timeout > 0:
        if threading.current_thread() is threading.main_thread():
            with _interruptible() if interruptible else nullcontext():
                got = _wait_blocking(fd, timeout)
        else:
            got = _wait_polling(fd, timeout)
        if got:
            return
    raise StoreLocked(_busy_message(holder(fd), timeout))


class _Alarm(Exception):
    pass


def _on_alarm(_signum: int, _frame: object) -> None:
    raise _Alarm


def _wait_blocking(fd: int, timeout: float) -> bool:
    """A blocking flock (the kernel wakes us when the holder lets go, so that waiters
    are not starved by a holder that takes the lock again at once) ended by SIGALRM
    after `timeout`; an alarm already set (pytest-timeout's, say) is put back after."""
    started = time.monotonic()
    old_handler = signal.signal(signal.SIGALRM, _on_alarm)
    old_delay = old_interval = 0.0
    try:
        old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, timeout)
        fcntl.flock(fd, fcntl.LOCK_EX)
        got = True
    except _Alarm:
        got = try_lock(fd)  # the alarm may have come just after flock returned
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if old_handler is None else old_handler)
        if old_delay:
            left = max(0.001, old_delay - (time.monotonic() - started))
            signal.setitimer(signal.ITIMER_REAL, left, old_interval)
    return got


def _wait_polling(fd: int, timeout: float) -> bool:
    """Outside the main thread, where no signal can end a blocking flock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
        if try_lock(fd):
            return True
    return False


def note_holder(fd: int) -> None:
    """Write our pid into the lock file (best effort: it only serves the message above)."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass


def release(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
    except OSError:
        pass
    fcntl.flock(fd, fcntl.LOCK_UN)


def holder(fd: int) -> int | None:
    """The pid the lock's holder wrote, if any."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and 0 < len(text) <= 10 else None


def _busy_message(pid: int | None, timeout: float) -> str:
    who = f"pid {pid}" if pid is not None else "another process"
    hint = (f"if that clinvk is stopped (Ctrl-Z), resume it (`fg`, or `kill -CONT {pid}`)"
            if pid is not None else "if a clinvk is stopped (Ctrl-Z), resume it (`fg`)")
    return (f"the session store is locked by {who} (waited {timeout:g} s); {hint}; "
            "session.lock_timeout_seconds sets how long to wait")


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt for the duration (unless SIGINT is ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.getsignal(signal.SIGINT)
    if old is None or old is signal.SIG_IGN:  # None: a handler Python cannot restore
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextmanager
def held(path: Path, blocking: bool, timeout: float, after_death: Callable[[], None],
         interruptible: bool = True) -> Iterator[bool]:
    """Hold the lock file at `path` (False if busy and not blocking). A pid left in it means
    its last holder died holding it: `after_death` runs (under the lock) before ours is noted.
    `interruptible`: see acquire."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot open lock file {path}: {exc.strerror or exc}") from None
    try:
        if blocking:
            acquire(fd, timeout, interruptible)
        elif not try_lock(fd):
            yield False
            return
        try:
            if holder_left(fd):
                try:
                    after_death()
                except OSError:  # tidying is best effort: the lock is what matters
                    pass
            note_holder(fd)
            yield True
        finally:
            release(fd)
    finally:
        os.close(fd)


def holder_left(fd: int) -> bool:
    """Whether the file still holds a pid (its holder empties it when it lets go)."""
    try:
        return bool(os.pread(fd, 32, 0).strip())
    except OSError:
        return False

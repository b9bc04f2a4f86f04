"""Keeps one turn's session record up to date in the store (nothing at all when ephemeral).

A turn whose backend ran is never lost to the store's lock: the first write (the backend's
id, while the backend runs) waits at most a second and leaves Ctrl-C to the runner (which
stops the backend: the turn then ends as interrupted); the turn's write at the end waits
session.lock_timeout_seconds, and a Ctrl-C meanwhile only marks the turn interrupted (a
second one gives up). Should the turn finally not be written, the error says so.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from clinvk.adopt_reconcile import drop_outside, take_over
from clinvk.errors import ClinvkError, ExitCode, Interrupted
from clinvk.pty.signals import routed
from clinvk.records import Record
from clinvk.store import session as sessions
from clinvk.store.record_check import cost_fits, storable, usage_fits
from clinvk.usage_keys import normalise_usage

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)

if TYPE_CHECKING:
    from typing import Any

    from clinvk.pricing import PriceTable
    from clinvk.store import SessionStore

    # record -> (its new `archive` value, the write of the copies it describes), or None
    Archiver = Callable[[dict[str, Any]], "tuple[dict[str, Any], Callable[[], Any]] | None"]


STARTED_WAIT = 1.0  # seconds the backend's first line may wait for a busy store


class Recorder:
    """Writes the session as soon as the backend's id is known, and the turn when it ends."""

    def __init__(
        self,
        store: SessionStore | None,
        record: dict[str, Any],
        *,
        exists: bool,
        store_prompts: bool = True,
        store_usage: bool = True,
        notice: Callable[[str], None] | None = None,
        prices: PriceTable | None = None,
        archiver: Archiver | None = None,
    ) -> None:
        self.store = store
        self.record = record
        self.exists = exists
        self.store_prompts = store_prompts
        self.store_usage = store_usage
        self.prices = prices  # estimates the cost of turns whose backend reports none
        self.archiver = archiver
        self.notice = notice  # told of a Ctrl-C held back while the turn waits for the store
        self.pending: tuple[str, str | None] | None = None  # ids the busy store did not take
        self.interrupted = False  # a Ctrl-C came while the finished turn waited: so recorded
        self.early_staged = False  # turn_done let the archiver start

    @property
    def session_id(self) -> str | None:
        return self.record["id"] if self.store is not None else None

    def identify(self, backend_session_id: str, model: str | None) -> bool:
        """Note the backend's session id (and model) in the record, to be written with the
        turns (`started` writes them at once); whether the stored record lacks them."""
        rec = self.record
        changed = rec.get("backend_session_id") != backend_session_id or bool(
            model and not rec.get("model")
        )
        rec["backend_session_id"] = backend_session_id
        if model and not rec.get("model"):
            rec["model"] = model
        if changed or not self.exists:
            self.pending = (backend_session_id, model)
        return changed

    def started(self, backend_session_id: str, model: str | None) -> None:
        """The backend told us its session id: make the session resumable right away."""
        changed = self.identify(backend_session_id, model)
        if self.store is None or (self.exists and not changed):
            return
        rec = self.record
        storable(rec)
        from clinvk.store.lock import StoreLocked

        # the backend waits meanwhile (its output is not read): wait briefly only, and leave
        # Ctrl-C to the handler installed (the runner's: it stops the backend, the turn ends)
        try:
            with self.store.lock(wait=min(STARTED_WAIT, self.store.lock_timeout),
                                 interruptible=False):
                if not self.exists:  # an adopt may have taken the conversation meanwhile
                    self.record = self.store.create(take_over(self.store, rec, self.prices))
                    self.exists = True
                else:
                    self.record = self._update(lambda r: _set_ids(r, backend_session_id, model))
            self.pending = None
        except StoreLocked:  # the store is busy: the ids are written with the turn, at its end
            self.pending = (backend_session_id, model)

    def turn_done(self) -> None:
        """The backend says the turn is done (it has yet to exit): what the end needs is
        made now, while it exits: the price table, the archive's copies (once; never an
        error: the end does it all again, and warns)."""
        if self.store is None or self.early_staged:
            return
        self.early_staged = True
        try:
            load = getattr(self.prices, "load", None)
            if load is not None:
                load()
            early = getattr(self.archiver, "early", None)
            if early is not None:
                early(self.record)
        except Exception:  # the end makes them again, and reports what fails
            pass

    def finish(self, **turn: Any) -> dict[str, Any]:
        """Add the finished (or failed, or interrupted) turn to the session."""
        return self.finish_all([turn])

    def finish_all(self, turns: list[dict[str, Any]]) -> dict[str, Any]:
        """Add these turns (add_turn's fields each; the last one finished, failed or was
        interrupted) to the session, in one write under one hold of the store's lock."""
        last = turns[-1]
        archive: dict[str, Any] | None = None

        def apply(rec: dict[str, Any]) -> None:
            drop_outside(rec, turns, self.prices)  # an adopt's copy of these turns
            if self.pending is not None:
                _set_ids(rec, *self.pending)
            if self.record.get("backend_session_id") and not rec.get("backend_session_id"):
                rec["backend_session_id"] = self.record["backend_session_id"]
            if self.record.get("model") and not rec.get("model"):
                rec["model"] = self.record["model"]
            if ctrl_c.seen and last.get("status") == "active":
                last.update(status="interrupted", error="interrupted",
                            exit_code=int(ExitCode.INTERRUPTED))
                self.interrupted = True
            for turn in turns:
                self._bounded(turn, rec)
                sessions.add_turn(rec, store_prompt=self.store_prompts,
                                  store_usage=self.store_usage, **turn)
            if archive is not None:
                rec["archive"] = archive
            storable(rec)

        ctrl_c = _CtrlC()
        if self.store is None:
            apply(self.record)
            return self.record
        with self._patient(ctrl_c):
            archive, copier = self._stage_copy()
            try:
                with self._locked(ctrl_c):
                    if not self.exists:
                        apply(self.record)
                        self.record = self.store.create(
                            take_over(self.store, self.record, self.prices))
                        self.exists = True
                    else:
                        self.record = self._update(apply)
            finally:
                if copier is not None:
                    copier.join()
        self.pending = None
        return self.record

    def _stage_copy(self) -> tuple[dict[str, Any] | None, threading.Thread | None]:
        """The backend's files are final now: the archive's copy of them is worked out before
        the store's lock, its value goes into the turn's write (returned) and its files are
        written meanwhile (the thread returned). A second Ctrl-C here gives the turn up."""
        if self.archiver is None:
            return None, None
        try:
            staged = self.archiver(self.record)
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted before the session store was written: "
                              f"{self._lost()}") from None
        if staged is None:
            return None, None
        value, write = staged
        return value, _start(write)

    def _lost(self) -> str:
        """What a turn that is not written says."""
        lost = "the turn was NOT recorded"
        ids = self.pending or (self.record.get("backend_session_id"), None)
        return lost + (f" (the backend's session id is {ids[0]})" if ids[0] else "")

    def _update(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """store.update of this session, under the lock held. A session deleted while its
        turn ran (`sessions clean` from cron, the daily clean, a delete in another terminal)
        is written again from what this turn knows, with a warning: a turn the backend ran
        is never lost. A file damaged meanwhile (a hand edit gone wrong) is set aside."""
        from clinvk.errors import SessionNotFound

        assert self.store is not None
        try:
            return self.store.update(self.record["id"], change)
        except SessionNotFound:
            from clinvk.store.delete import set_aside_damaged

            change(self.record)
            kept = set_aside_damaged(self.store, self.record["id"])
            what = (f"'s file was damaged while its turn ran (kept as {kept[0]})" if kept
                    else " was deleted while its turn ran")
            self.store.warn(f"session {self.record['id'][:8]}{what}; "
                            "it is written again, with this turn")
            return self.store.create(self.record)

    def _bounded(self, turn: dict[str, Any], rec: dict[str, Any]) -> None:
        """The turn's cost estimated; usage or a cost that the record cannot hold (a backend
        reporting 10**13 tokens) left out, with a warning, so that the turn is recorded."""
        if turn.get("usage") and not usage_fits(normalise_usage(turn["usage"]), rec):
            turn.update(usage=None, cost_usd=None)
            self._warn("its token usage")
        self._estimate(turn, rec.get("model"))
        if turn.get("cost_usd") is not None and not cost_fits(turn["cost_usd"], rec):
            turn.update(cost_usd=None, cost_estimated=False)
            self._warn("its cost")

    def _warn(self, what: str) -> None:
        if self.notice is not None:
            self.notice(f"the backend reported {what} beyond what a session record holds; "
                        "the turn is recorded without it")

    def _estimate(self, turn: dict[str, Any], model: str | None) -> None:
        """A turn with no reported cost gets the pricing table's estimate from its usage and
        the session's model (none for an unknown model, or when no usage is kept)."""
        if turn.get("cost_usd") is not None or self.prices is None or not self.store_usage:
            return
        cost = self.prices.estimate(model, normalise_usage(turn.get("usage")))
        if cost is not None:
            turn.update(cost_usd=float(cost), cost_estimated=True)

    @contextmanager
    def _locked(self, ctrl_c: _CtrlC) -> Iterator[None]:
        """The store's lock for the turn's write, leaving SIGINT to the handler installed;
        a turn that cannot be written says so."""
        from clinvk.store.lock import StoreLocked

        lost = self._lost()
        assert self.store is not None
        try:
            with self.store.lock(interruptible=False):
                ctrl_c.holding = True
                yield
        except ClinvkError as exc:  # locked past the wait, a full disk, a folder in the way
            if lost in exc.message:
                raise
            if isinstance(exc, StoreLocked):
                raise StoreLocked(f"{exc.message}; {lost}") from None
            raise ClinvkError(f"{exc.message}; {lost}", exc.exit_code) from None
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted while waiting for the session store: {lost}") from None

    @contextmanager
    def _patient(self, ctrl_c: _CtrlC) -> Iterator[None]:
        """Python's default SIGINT handling (KeyboardInterrupt), and SIGTERM's and SIGHUP's
        (death), become: the first of them is counted (the turn is then recorded as
        interrupted), a second one raises while the lock is not held yet. Any other handler
        (the interactive run's, which ignores a late Ctrl-C) is left in place."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL,
                    signal.SIGHUP: signal.SIG_DFL}
        ours = [sig for sig, default in defaults.items() if signal.getsignal(sig) is default]

        def on_stop(signum: int, _frame: object) -> None:
            if ctrl_c.holding:  # the write goes on (it is short)
                return
            ctrl_c.seen += 1
            if ctrl_c.seen > 1:
                raise KeyboardInterrupt
            if self.notice is not None:
                came = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
                self.notice(f"{came}: the turn is recorded as interrupted once the session "
                            f"store is free; {came} again to give up (the turn is then lost)")

        with routed(dict.fromkeys(ours, on_stop)):  # the defaults again after
            yield


def _start(work: Callable[[], Any] | None) -> threading.Thread | None:
    """Run `work` in a thread (its disk waits overlap the record's write)."""
    if work is None:
        return None
    thread = threading.Thread(target=work, name="clinvk-archive", daemon=True)
    thread.start()
    return thread


class _CtrlC(Record):
    """The Ctrl-Cs a finished turn's write saw, and whether it holds the lock yet."""

    seen: int = 0
    holding: bool = False


def _set_ids(rec: dict[str, Any], backend_session_id: str, model: str | None) -> None:
    rec["backend_session_id"] = backend_session_id
    if model and not rec.get("model"):
        rec["model"] = model
    storable(rec)

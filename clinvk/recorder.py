"""Keeps one turn's session record up to date in the store (nothing at all when ephemeral)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clinvk import session as sessions
from clinvk.record_check import storable

if TYPE_CHECKING:
    from clinvk.store import SessionStore


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
    ) -> None:
        self.store = store
        self.record = record
        self.exists = exists
        self.store_prompts = store_prompts
        self.store_usage = store_usage

    @property
    def session_id(self) -> str | None:
        return self.record["id"] if self.store is not None else None

    def started(self, backend_session_id: str, model: str | None) -> None:
        """The backend told us its session id: make the session resumable right away."""
        rec = self.record
        changed = rec.get("backend_session_id") != backend_session_id or (
            model and not rec.get("model")
        )
        rec["backend_session_id"] = backend_session_id
        if model and not rec.get("model"):
            rec["model"] = model
        if self.store is None or (self.exists and not changed):
            return
        storable(rec)
        from clinvk.store_lock import StoreLocked

        try:  # the backend waits meanwhile (its output is not read): wait briefly only
            with self.store.lock(wait=min(STARTED_WAIT, self.store.lock_timeout)):
                if not self.exists:
                    self.record = self.store.create(rec)
                    self.exists = True
                else:
                    self.record = self.store.update(
                        rec["id"], lambda r: _set_ids(r, backend_session_id, model))
        except StoreLocked:
            pass  # the store is busy: the ids are written with the turn, when it ends

    def finish(self, **turn: Any) -> dict[str, Any]:
        """Add the finished (or failed, or interrupted) turn to the session."""
        def apply(rec: dict[str, Any]) -> None:
            if self.record.get("backend_session_id") and not rec.get("backend_session_id"):
                rec["backend_session_id"] = self.record["backend_session_id"]
            if self.record.get("model") and not rec.get("model"):
                rec["model"] = self.record["model"]
            sessions.add_turn(rec, store_prompt=self.store_prompts, store_usage=self.store_usage,
                              **turn)
            storable(rec)

        if self.store is None:
            apply(self.record)
            return self.record
        if not self.exists:
            apply(self.record)
            self.record = self.store.create(self.record)
            self.exists = True
        else:
            self.record = self.store.update(self.record["id"], apply)
        return self.record


def _set_ids(rec: dict[str, Any], backend_session_id: str, model: str | None) -> None:
    rec["backend_session_id"] = backend_session_id
    if model and not rec.get("model"):
        rec["model"] = model
    storable(rec)

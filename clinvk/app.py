"""The application object every command receives: environment, settings, store, lazily built."""

from __future__ import annotations

from clinvk.env import Environment

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from clinvk.config import Settings
    from clinvk.pricing import PriceTable
    from clinvk.progress import Progress
    from clinvk.store import SessionStore


class cached_property:  # noqa: N801 - functools.cached_property's name and use
    """functools.cached_property (computed once, kept in the instance's __dict__) without
    importing functools, and the collections it imports, before a turn's spawn."""

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func, self.attrname = func, func.__name__
        self.__doc__ = func.__doc__

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.attrname] = self.func(instance)
        return value


class App:
    def __init__(self, env: Environment | None = None) -> None:
        self.env = env or Environment()
        self.config_flag: str | None = None
        self.overrides: dict[str, Any] = {}
        self.changes_nothing = False  # --ephemeral / --dry-run: leave $CLINVK_HOME untouched
        self.quiet_progress = False  # --json and the like: no progress line on stderr
        self.clean_keeps: frozenset[str] = frozenset()  # an import's sessions: not cleaned by it

    @cached_property
    def settings(self) -> Settings:
        from clinvk import config

        settings = config.load(self.env.environ, self.config_flag, self.overrides,
                               keep=not self.changes_nothing)
        for warning in settings.warnings:
            self.env.warn(warning)
        return settings

    @cached_property
    def prices(self) -> PriceTable:
        """The shipped pricing table with the config's `prices` overrides, built once."""
        from clinvk.pricing import price_table

        return price_table(self.settings.get("prices"))

    @cached_property
    def store(self) -> SessionStore:
        from clinvk.store import SessionStore

        store = SessionStore(self.settings.home, warn=self.env.warn, read_only=self.changes_nothing,
                             on_delete=[_forget_texts, _forget_archive])
        store.lock_timeout = float(self.settings.get("session.lock_timeout_seconds"))
        store.progress = self.progress
        return store

    def progress(self, label: str, total: int | None = None) -> Progress:
        """A progress line on stderr for long work, drawn only when stderr is a terminal and
        neither --json, CLINVK_NO_PROGRESS nor `output.progress: false` says otherwise."""
        from clinvk.progress import Progress, wanted

        env = self.env
        enabled = not self.quiet_progress and wanted(
            env.stderr, env.environ, bool(self.settings.get("output.progress")))
        return Progress(env.stderr, label, total=total, enabled=enabled)

    def quiet_for(self, output_format: str | None) -> None:
        """A turn whose output is JSON, by its flag or by the config's output.format, draws
        no progress line (as --json does)."""
        if (output_format or self.settings.get("output.format")) in ("json", "stream-json"):
            self.quiet_progress = True

    def close_store(self) -> None:
        """Let go of the store's index (if it was opened) before a long-running backend."""
        if "store" in self.__dict__:
            self.store.close()

    def after_command(self) -> None:
        """Housekeeping once a command succeeded: the daily retention clean."""
        if self.changes_nothing or "settings" not in self.__dict__:
            return
        settings = self.settings
        if not settings.get("session.auto_clean"):
            return
        from clinvk.retention import maybe_auto_clean

        maybe_auto_clean(self.store, settings.get("session.retention_days"), keep=self.clean_keeps)


def _forget_texts(home: Path, session_ids: list[str]) -> None:
    """Deleted sessions leave no conversation text in clinvk's derived transcript cache."""
    from clinvk.transcripts.cache import forget

    forget(home, session_ids)


def _forget_archive(home: Path, session_ids: list[str]) -> None:
    """Deleted sessions leave no archived transcript behind."""
    from clinvk.archive_read import remove

    remove(home, session_ids)

"""The options of the commands that run a turn (the root command and `resume`), each read
once into a frozen object: by Click (clinvk.commands.run.from_click) or, for the root
command's plain form, by clinvk.launch's own reading of the command line. Click-free."""

from __future__ import annotations

from clinvk.records import Record

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from typing import Any


class TurnOptions(Record, frozen=True):
    """The options shared by the root command and `resume`, and the backend arguments
    given after `--`."""

    model: str | None
    output_format: str | None
    ephemeral: bool
    dry_run: bool
    timeout: float | None
    passthrough: tuple[str, ...]

    @property
    def changes_nothing(self) -> bool:
        return self.ephemeral or self.dry_run

    def spec_fields(self) -> dict[str, Any]:
        """The TurnSpec fields these options set."""
        return {"model": self.model, "ephemeral": self.ephemeral, "dry_run": self.dry_run,
                "timeout": self.timeout, "passthrough": self.passthrough}


class RunOptions(Record, frozen=True):
    """The root command's options: `clinvk [OPTIONS] [PROMPT]... [-- BACKEND_ARGS]`."""

    backend: str | None
    workdir: str | None
    cont: bool
    here: bool
    new: bool
    title: str | None
    tags: tuple[str, ...]
    prompt: tuple[str, ...]
    turn: TurnOptions


class ResumeOptions(Record, frozen=True):
    """`clinvk resume`'s options."""

    last: bool
    here: bool
    backend: str | None
    pick: bool
    fork: bool
    to_backend: str | None
    words: tuple[str, ...]
    turn: TurnOptions

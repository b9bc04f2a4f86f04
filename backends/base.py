"""The base class every backend adapter subclasses, and the events its parser emits.

Adapters know nothing of the store or of Click: they build a command line, turn
lines of the backend's output into events, and find the backend's own files.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from clinvk.backends.usage import USAGE_FIELDS as USAGE_FIELDS
from clinvk.backends.usage import Usage

from clinvk.records import Record, factory

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Protocol

    from clinvk.backends.transcript import Transcript, TranscriptTurn


# --- events an adapter's parser emits -------------------------------------------------


class TextDelta(Record, frozen=True):
    """A piece of the assistant's reply, to be shown at once."""

    text: str


class SessionStarted(Record, frozen=True):
    """The backend told us its session id (the id it resumes by)."""

    backend_session_id: str
    model: str | None = None


class UsageReport(Record, frozen=True):
    """Usage of this turn (already per-turn and normalised) and its cost, when known."""

    usage: Usage
    cost_usd: float | None = None
    model: str | None = None


class BackendError(Record, frozen=True):
    """The backend reported a failure of the turn (fatal) or a warning (not fatal)."""

    message: str
    fatal: bool = True


class Done(Record, frozen=True):
    """The backend finished the turn; `text` is the whole reply when the backend gives it."""

    text: str | None = None


class Diagnostic(Record, frozen=True):
    """A line that is not part of the structured output (warnings, progress, stray text)."""

    line: str


Event = TextDelta | SessionStarted | UsageReport | BackendError | Done | Diagnostic

# Linux refuses one argv string over 128 KiB (MAX_ARG_STRLEN): a longer prompt goes to the
# backend on its stdin (all three CLIs read it there, checked with 1 MB prompts), a shorter
# one stays an argument as before.
ARGV_PROMPT_MAX = 100_000  # bytes


class TurnRequest(Record):
    """Everything an adapter needs to build the command line of one headless turn."""

    prompt: str
    command: str  # the executable to run (from config: backends.NAME.command)
    model: str | None = None
    working_dir: str = "."
    resume_id: str | None = None  # backend session id to continue, None for a new session
    extra_flags: list[str] = factory(list)  # config backends.NAME.extra_flags
    passthrough: list[str] = factory(list)  # everything after `--`
    fork: bool = False  # start a new session from `resume_id` (what `Adapter.prepare_fork` gave)

    @property
    def long_prompt(self) -> bool:
        """Too long to be one argument: adapters that read stdin leave it out of the argv and
        hand it over with `Adapter.stdin_input`."""
        return len(self.prompt.encode("utf-8", "surrogatepass")) > ARGV_PROMPT_MAX


def prompt_on_stdin(request: TurnRequest) -> bytes | None:
    """The prompt's bytes when it is too long to be an argument, else None."""
    return request.prompt.encode("utf-8", "replace") if request.long_prompt else None


class StoreFile(Record, frozen=True):
    """One file of a backend's own store: `path` is relative to `Adapter.store_root`,
    '/'-separated (never absolute, never `..`)."""

    path: str
    content: bytes


class Relocation(Record, frozen=True):
    """A session's store files as exported (`files`), to be installed for `new_dir` under the
    backend session id `new_id` (ids and directories may equal the old ones)."""

    files: tuple[StoreFile, ...]
    old_id: str
    new_id: str
    old_dir: str
    new_dir: str


class Retention(Record, frozen=True):
    """The backend's own clean-up of its transcripts: they are deleted after `days` days, as
    `setting` (the key and the file that sets it, or its default) says."""

    days: float
    setting: str


if TYPE_CHECKING:  # a typing construct: only for the checker

    class LineParser(Protocol):
        """Stateful parser for one run of the backend: one call per output line."""

        def feed(self, line: str) -> list[Event]:
            """Parse one line (without its line ending) into zero or more events."""
            ...

        def finish(self, exit_code: int | None) -> list[Event]:
            """Called once when the process has ended; emits any closing events."""
            ...


class Adapter(ABC):
    """What clinvk needs from a backend CLI: the base class of every adapter.

    A subclass must set the class attributes below and implement the abstract methods.
    The other methods have defaults: the shared ones (`stdin_input`, `usage_baseline`,
    `version_argv`, `new_session_id`) do what most backends need, and the optional hooks
    (`tidy_store`, `interactive_env`, `interactive_argv`, `interactive_snapshot`,
    `interactive_turn_usage`) do nothing, which is what a backend that needs no such step
    wants: callers call them unconditionally.
    """

    name: str
    default_command: str
    install_hint: str  # e.g. "npm install -g @anthropic-ai/claude-code"
    reports_running_totals: bool = False  # usage figures are the session's running totals (codex)
    assigns_session_id: bool = False  # an interactive run takes clinvk's id for a new session

    # --- headless turns -------------------------------------------------------------------

    @abstractmethod
    def build_argv(self, request: TurnRequest) -> list[str]:
        """The full argv (argv[0] = request.command) for one headless turn."""

    def stdin_input(self, request: TurnRequest) -> bytes | None:
        """What the backend reads on a piped stdin for this headless turn: the prompt when
        `build_argv` left it out (`request.long_prompt`), else None (stdin stays the pty)."""
        return prompt_on_stdin(request)

    @abstractmethod
    def new_parser(self, baseline: Usage | None = None) -> LineParser:
        """A parser for one run; `baseline` is the backend's running total before the turn
        for backends that report cumulative figures (codex), else ignored."""

    def usage_baseline(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str]
    ) -> Usage | None:
        """The backend's own running usage total for a session before a new turn, read from
        its store, or None when the backend reports per-turn figures (the default) or it is
        unknown."""
        return None

    @abstractmethod
    def session_files(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str]
    ) -> list[Path]:
        """The backend's own store files that hold this session (may be empty)."""

    def version_argv(self, command: str) -> list[str]:
        """Command line that prints the backend's version."""
        return [command, "--version"]

    def tidy_store(self, working_dir: str, environ: Mapping[str, str]) -> None:
        """Optional: a repair of the backend's own store before and after every run (gemini).
        The default repairs nothing."""
        return None

    # --- interactive sessions and transcripts (the backend's own store) ----------------

    @abstractmethod
    def build_interactive_argv(self, request: TurnRequest, new_session_id: str | None) -> list[str]:
        """The argv of the backend's own interactive interface: a new session (with
        `new_session_id` when `assigns_session_id`), or `request.resume_id`; a non-empty
        `request.prompt` is sent as the first message of a new session (a hand-over)."""

    def interactive_env(self, working_dir: str, environ: Mapping[str, str],
                        scratch: Path) -> dict[str, str]:
        """Optional: extra variables of an interactive run whose files go to the private
        folder `scratch` (codex, gemini). The default, {}, adds none."""
        return {}

    def interactive_argv(self, argv: list[str], environ: Mapping[str, str],
                         scratch: Path) -> list[str]:
        """Optional: the interactive run's argv with extra arguments whose files go to
        `scratch` (codex). The default returns `argv` as it is."""
        return argv

    def interactive_snapshot(self, working_dir: str, environ: Mapping[str, str],
                             resume_id: str | None, scratch: Path) -> None:
        """Optional: called before an interactive run to note in `scratch` what the backend's
        own counts are then (claude). The default notes nothing."""
        return None

    def interactive_turn_usage(self, turns: list[TranscriptTurn], scratch: Path,
                               session_id: str) -> list[TranscriptTurn] | None:
        """Optional: the run's new turns with the usage read from the files in `scratch` when
        the transcript's own is short. None (the default) keeps the transcript's figures."""
        return None

    @abstractmethod
    def list_session_files(self, working_dir: str, environ: Mapping[str, str]) -> set[Path]:
        """The store files that exist now and could hold a session of `working_dir`: taken
        before an interactive run so that `find_new_session` can tell which one it created."""

    @abstractmethod
    def find_new_session(
        self, working_dir: str, started_at: float, environ: Mapping[str, str], before: set[Path]
    ) -> str | None:
        """The backend session id of the session an interactive run in `working_dir` created:
        a store file not in `before`, written since `started_at` (epoch seconds), that belongs
        to `working_dir` (not one another terminal created elsewhere); None if there is none."""

    @abstractmethod
    def read_transcript(self, files: list[Path]) -> Transcript:
        """The conversation in these store files (from `session_files`) with the session's
        total usage as the store records it, normalised like the headless parser's figures.
        Raises transcript.TranscriptUnavailable when gone, unreadable or of unknown shape."""

    # --- adopting the backend's own conversations ------------------------------------------

    def native_files(self, environ: Mapping[str, str]) -> list[Path]:
        """Every file of the backend's own store that holds one whole conversation (claude's
        project JSONL, codex's rollout, gemini's chat), for `sessions adopt`. The default,
        [], is a backend with no store to adopt from."""
        return []

    def native_transcript(self, path: Path, environ: Mapping[str, str]) -> Transcript:
        """The conversation in one file of `native_files`, with its session id and, where the
        store keeps it elsewhere, its working directory filled in. Raises
        transcript.TranscriptUnavailable like `read_transcript`."""
        return self.read_transcript([path])

    def own_retention(self, environ: Mapping[str, str]) -> Retention | None:
        """Optional: when the backend deletes its own transcripts by itself (claude's
        `cleanupPeriodDays`, gemini's `general.sessionRetention`). The default, None: never."""
        return None

    # --- moving and forking sessions (the backend's own store) ---------------------------

    @abstractmethod
    def store_root(self, environ: Mapping[str, str]) -> Path:
        """The folder `session_files` lie under (`StoreFile.path` is relative to it)."""

    def new_session_id(self) -> str:
        """A fresh backend session id in the backend's own format (the default: a UUID 4)."""
        import uuid

        return str(uuid.uuid4())

    @abstractmethod
    def relocate(self, items: list[Relocation], environ: Mapping[str, str]) -> list[list[StoreFile]]:
        """For each item, the files to write under `store_root` so that the backend finds the
        session `new_id` from `new_dir` (paths, ids and directories inside rewritten). Reads
        the store only to choose names; writes nothing. ValueError when a file's path or shape
        is not one this backend writes."""

    @abstractmethod
    def prepare_fork(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str], scratch: Path
    ) -> str:
        """Make what a fork of the session needs (a copy in the store, or in the empty folder
        `scratch`, removed after the turn) and return the `resume_id` of the fork's first turn,
        which runs with `TurnRequest.fork`. ValueError when the session's files are missing."""

"""An interactive session: the backend's own interface in a pty, recorded afterwards.

TurnPlan builds the interactive argv → pty.interactive.run_interactive hands the terminal
over → adapter finds the session the run created (claude: the id clinvk chose up front;
others: the store file that appeared for this working dir) and reads its transcript →
the new prompts become turns of the clinvk session, with the usage the transcript
records for them, all written at once (the plan's Recorder, as for headless turns).
Click-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.backends.transcript import Transcript, TranscriptTurn, TranscriptUnavailable, split_turns
from clinvk.turn_plan import TurnPlan, TurnSpec

if TYPE_CHECKING:
    from clinvk.app import App
    from clinvk.pty.interactive import InteractiveResult

INTERRUPT_CODES = (130, 128 + 15, 128 + 1)  # SIGINT, SIGTERM, SIGHUP


def run_interactive_session(app: App, spec: TurnSpec) -> int:
    """Run the backend's interactive interface for `spec` (new, or resuming spec.session)
    and record what happened; returns the backend's exit code."""
    plan = TurnPlan(app, spec, interactive=True)
    try:
        return _run_planned(app, spec, plan)
    finally:
        plan.cleanup()


def _run_planned(app: App, spec: TurnSpec, plan: TurnPlan) -> int:
    adapter = plan.adapter
    resume_id = plan.request.resume_id
    env = app.env
    if spec.dry_run:
        env.stdout.write(plan.shell_line(env.cwd) + "\n")
        return 0
    argv = [plan.executable(), *plan.argv[1:]]
    if not spec.ephemeral:  # a broken store fails here, not after the whole session
        app.store.check_writable()
    before_files: set = set()
    known_turns = 0
    if resume_id:
        before = _read(plan, resume_id)
        known_turns = len(split_turns(before.messages)) if before else 0
    else:
        before_files = adapter.list_session_files(plan.workdir, plan.environ)

    import tempfile

    with tempfile.TemporaryDirectory(prefix="clinvk-interactive-") as scratch:
        return _run_and_record(app, spec, plan, argv, known_turns, before_files, Path(scratch))


def _run_and_record(app: App, spec: TurnSpec, plan: TurnPlan, argv: list[str], known_turns: int,
                    before_files: set, scratch: Path) -> int:
    """Run the interface (with the adapter's optional `interactive_env`, `interactive_argv`
    and `interactive_snapshot`, whose files go to `scratch`, a private folder removed
    afterwards) and record the new turns (with the adapter's optional `interactive_turn_usage` when
    the store's own figures are short)."""
    from clinvk.pty.fork import SpawnError
    from clinvk.pty.interactive import run_interactive

    adapter = plan.adapter
    env = app.env
    resume_id = plan.request.resume_id
    environ = dict(plan.environ)
    if not spec.ephemeral:
        environ.update(adapter.interactive_env(plan.workdir, plan.environ, scratch))
        argv = adapter.interactive_argv(argv, plan.environ, scratch)
        adapter.interactive_snapshot(plan.workdir, plan.environ, resume_id, scratch)
    plan.tidy_store()
    try:
        result = run_interactive(argv, cwd=plan.workdir, env=environ)
    except SpawnError as exc:
        raise plan.not_runnable(exc) from None
    plan.tidy_store()
    if spec.ephemeral:
        return result.returncode
    session_id = plan.new_id or resume_id
    transcript = _read(plan, session_id, env.warn) if session_id else None
    if transcript is None and not resume_id:  # e.g. the backend ignored the id we chose
        session_id = adapter.find_new_session(plan.workdir, result.started_at, plan.environ,
                                              before_files)
        transcript = _read(plan, session_id, env.warn) if session_id else None
    if transcript is None or session_id is None:
        return result.returncode  # nothing was said (or the store cannot be read): no record
    turns = split_turns(transcript.messages)[known_turns:]
    if turns:
        turns = adapter.interactive_turn_usage(turns, scratch, session_id) or turns
    if turns:
        _record(plan, session_id, transcript, turns, result)
    elif plan.request.fork and resume_id != plan.original_id:
        _discard_copy(plan, resume_id)  # nothing was said in the fork: drop clinvk's copy
    return result.returncode


def _discard_copy(plan: TurnPlan, copy_id: str | None) -> None:
    """Remove the store files of a fork's copy (made by the adapter's `prepare_fork`)."""
    if not copy_id:
        return
    for path in plan.adapter.session_files(copy_id, plan.workdir, plan.environ):
        try:
            path.unlink()
        except OSError:
            pass


def _read(plan: TurnPlan, session_id: str, warn=None) -> Transcript | None:
    files = plan.adapter.session_files(session_id, plan.workdir, plan.environ)
    if not files:
        return None
    try:
        return plan.adapter.read_transcript(files)
    except TranscriptUnavailable as exc:
        if warn is not None:
            warn(f"the session could not be recorded: {exc}")
        return None


def _outcome(result: InteractiveResult) -> tuple[str, str | None]:
    code = result.returncode
    if code == 0:
        return "active", None
    if code in INTERRUPT_CODES:
        return "interrupted", "interrupted"
    return "error", f"backend exited with code {code}"


def _when(turn: TranscriptTurn):
    """The time the turn's prompt was sent (None when the store does not say)."""
    from clinvk.clock import parse_rfc3339

    try:
        return parse_rfc3339(turn.time or "")
    except ValueError:
        return None


def _duration_ms(turn: TranscriptTurn) -> int:
    from clinvk.clock import parse_rfc3339

    try:
        start = parse_rfc3339(turn.time or "")
        end = parse_rfc3339(turn.end_time or "")
    except ValueError:
        return 0
    return max(0, int((end - start).total_seconds() * 1000))


def _record(plan: TurnPlan, session_id: str, transcript: Transcript,
            turns: list[TranscriptTurn], result: InteractiveResult) -> dict[str, Any]:
    """The run's new turns, written to the session in one locked write."""
    spec = plan.spec
    model = plan.model or transcript.model
    recorder = plan.recorder(turns[0].prompt, model, now=_when(turns[0]))
    recorder.identify(session_id, model)
    status, error = _outcome(result)
    written = []
    for n, turn in enumerate(turns):
        last = n == len(turns) - 1
        # a hand-over's first message is the whole earlier conversation: recorded as its spec says
        first = n == 0 and spec.stored_prompt is not None
        written.append({
            "prompt": spec.stored_prompt if first else turn.prompt,
            "duration_ms": _duration_ms(turn), "exit_code": result.returncode if last else 0,
            "usage": turn.usage.to_dict(), "cost_usd": None,
            "status": status if last else "active", "error": error if last else None,
            "at": _when(turn),
        })
    return recorder.finish_all(written)

"""`resume ID --fork` and `resume ID --to BACKEND`: the turn specs that branch a session or hand
its conversation over to another backend. Click-free; the CLI and clinvk.api use it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clinvk.backends.transcript import Message, Transcript
from clinvk.errors import UsageError

if TYPE_CHECKING:
    from clinvk.app import App
    from clinvk.turn_plan import TurnSpec

# one argv string must stay under Linux's 128 KiB MAX_ARG_STRLEN: the hand-over of an
# interactive run is an argument of the backend's interface (a headless turn's goes on stdin)
MAX_ARG_BYTES = 120_000
ROLE_LABEL = {"user": "User", "assistant": "Assistant", "tool": "Tool result"}


def fork_spec(session: dict[str, Any], prompt: str, **turn: Any) -> TurnSpec:
    """A turn that starts a new session (parent_id = the session) from a copy of its
    conversation; `turn` takes TurnSpec's model, ephemeral, dry_run, timeout, title, tags."""
    from clinvk.turn_plan import TurnSpec

    _require_resumable(session)
    return TurnSpec(prompt=prompt, backend=session["backend"], session=session, fork=True, **turn)


def handoff_spec(app: App, session: dict[str, Any], backend: str, prompt: str,
                 **turn: Any) -> TurnSpec:
    """A turn on `backend` in the session's directory whose prompt carries the session's
    conversation (read from its backend's store), then `prompt`."""
    from clinvk.transcripts.access import load_transcript
    from clinvk.turn_plan import TurnSpec

    app.settings.backend(backend)  # unknown or disabled → exit 2
    if backend == session["backend"]:
        raise UsageError(f"session {session['id'][:8]} is already a {backend} session "
                         "(use --fork to branch it)")
    if session.get("archive") is not None and not turn.get("dry_run"):
        from clinvk.archive import restore

        restore(app, session)  # the old backend's files were deleted: back from the archive
    transcript = load_transcript(app, session)
    limit = int(app.settings.get("handoff.max_chars"))
    # no PROMPT: an interactive run, whose first message is an argument (see MAX_ARG_BYTES)
    text = compose(transcript, session["backend"], prompt, limit,
                   max_bytes=None if prompt else MAX_ARG_BYTES)
    turn.setdefault("title", session.get("title") or None)
    stored = prompt or f"(the conversation, handed over from {session['backend']})"
    return TurnSpec(
        prompt=text, backend=backend, workdir=session["working_dir"], parent_id=session["id"],
        metadata={"handed_from": session["backend"]}, stored_prompt=stored, **turn,
    )


def _require_resumable(session: dict[str, Any]) -> None:
    if not session.get("backend_session_id"):
        raise UsageError(f"session {session['id'][:8]} has no backend session id: "
                         "there is no conversation to copy")


def _render_turn(messages: list[Message]) -> str:
    lines = []
    for message in messages:
        text = message.text.strip()
        calls = "".join(f"\n[called {c.name}({c.brief})]" for c in message.tool_calls)
        if text or calls:
            lines.append(f"{ROLE_LABEL.get(message.role, message.role)}: {text}{calls}".rstrip())
    return "\n\n".join(lines)


def history_turns(transcript: Transcript) -> list[str]:
    """The conversation as text, one string per turn (a user prompt and what followed),
    oldest first."""
    turns: list[list[Message]] = []
    for message in transcript.messages:
        if message.role == "user" or not turns:
            turns.append([])
        turns[-1].append(message)
    return [t for t in (_render_turn(turn) for turn in turns) if t]


def fit(turns: list[str], max_chars: int) -> tuple[list[str], int]:
    """The newest turns whose text (joined by blank lines) fits in max_chars, and how many
    older turns were left out. A last turn longer than the limit keeps its end."""
    kept: list[str] = []
    size = 0
    for turn in reversed(turns):
        extra = len(turn) + (2 if kept else 0)
        if size + extra > max_chars:
            if not kept and max_chars > 0:
                kept.append("…" + turn[-(max_chars - 1):])
            break
        kept.append(turn)
        size += extra
    kept.reverse()
    return kept, len(turns) - len(kept)


def compose(transcript: Transcript, old_backend: str, prompt: str, max_chars: int,
            max_bytes: int | None = None) -> str:
    """The first prompt of the new backend: the earlier conversation (at most `max_chars`
    characters and, when given, older turns dropped until the text fits `max_bytes` UTF-8
    bytes), then PROMPT."""
    budget = max_chars
    while True:
        kept, dropped = fit(history_turns(transcript), budget)
        history = "\n\n".join(kept)
        note = f"({dropped} earlier turn(s) left out.)\n\n" if dropped else ""
        text = (f"The conversation below took place with another AI assistant ({old_backend}) "
                "in this working directory. Continue it: take it as your own earlier "
                "conversation with the user.\n\n<previous_conversation>\n"
                f"{note}{history}\n</previous_conversation>\n\n{prompt}")
        if max_bytes is None or len(text.encode("utf-8", "surrogatepass")) <= max_bytes \
                or budget <= 1000:
            return text
        budget = budget * 3 // 4

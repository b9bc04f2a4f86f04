"""Render a turn as text, json or stream-json; the same events for every backend."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from typing import IO, Any


FORMATS = ("text", "json", "stream-json")


def _dump(obj: Any) -> str:
    import json  # not before a turn's backend is spawned

    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class Renderer:
    """Base renderer: receives a turn's events in order and writes them out."""

    keeps_content = False  # whether the turn must collect the whole reply for done()

    def __init__(self, stdout: IO[str], stderr: IO[str]) -> None:
        self.out = stdout
        self.err = stderr

    def start(self, session_id: str | None, backend: str) -> None: ...

    def text(self, delta: str) -> None: ...

    def usage(self, usage: dict[str, int]) -> None: ...

    def error(self, message: str) -> None: ...

    def done(self, result: dict[str, Any]) -> None: ...


class TextRenderer(Renderer):
    def __init__(self, stdout: IO[str], stderr: IO[str], show_tokens: bool = False) -> None:
        super().__init__(stdout, stderr)
        self.show_tokens = show_tokens
        self._last = "\n"

    def text(self, delta: str) -> None:
        if delta:
            self.out.write(delta)
            self.out.flush()
            self._last = delta[-1]

    def done(self, result: dict[str, Any]) -> None:
        if self._last != "\n":
            self.out.write("\n")
            self.out.flush()
        if self.show_tokens:
            self.err.write(footer(result) + "\n")
            self.err.flush()


def footer(result: dict[str, Any]) -> str:
    usage = result.get("usage") or {}
    sid = (result.get("session_id") or "ephemeral")[:8]
    parts = [f"session {sid}"]
    if usage:
        parts.append(f"{usage.get('total_tokens', 0):,} tokens "
                     f"({usage.get('input_tokens', 0):,} in, {usage.get('output_tokens', 0):,} out)")
    if result.get("cost_usd") is not None:
        parts.append(f"${result['cost_usd']:.4f}")
    parts.append(f"{result.get('duration_ms', 0) / 1000:.1f}s")
    return "clinvk: " + " · ".join(parts)


class JsonRenderer(Renderer):
    keeps_content = True

    def done(self, result: dict[str, Any]) -> None:
        import json

        self.out.write(json.dumps(result, ensure_ascii=False) + "\n")
        self.out.flush()


class StreamJsonRenderer(Renderer):
    def _emit(self, obj: dict[str, Any]) -> None:
        self.out.write(_dump(obj) + "\n")
        self.out.flush()

    def start(self, session_id: str | None, backend: str) -> None:
        self._emit({"type": "start", "session_id": session_id, "backend": backend})

    def text(self, delta: str) -> None:
        if delta:
            self._emit({"type": "text", "text": delta})

    def usage(self, usage: dict[str, int]) -> None:
        self._emit({"type": "usage", "usage": usage})

    def error(self, message: str) -> None:
        self._emit({"type": "error", "message": message})

    def done(self, result: dict[str, Any]) -> None:
        self._emit({"type": "done", **result})


def printable_text(text: str, held: str = "", final: bool = False) -> tuple[str, str]:
    """(text to write, a high surrogate held for the next delta): a backend's reply split an
    emoji's surrogate pair over two deltas ("\\ud83d", "\\ude00"); a pair is joined, a lone
    surrogate becomes U+FFFD (it cannot be written as UTF-8)."""
    text = held + text
    held = ""
    if text and not final and "\ud800" <= text[-1] <= "\udbff":
        text, held = text[:-1], text[-1]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        text = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text, held


class GuardedOutput(Renderer):
    """A turn's renderer whose writes never stop the turn: the first failure (a reader that
    went away, a closed or full stdout, an encoding that cannot show the reply) ends the
    output only; the turn is recorded, then check() reports it."""

    def __init__(self, inner: Renderer) -> None:
        super().__init__(inner.out, inner.err)
        self.inner, self.failure, self._held = inner, None, ""
        self.keeps_content = inner.keeps_content

    def _call(self, name: str, *args: Any) -> None:
        if self.failure is None:
            try:
                getattr(self.inner, name)(*args)
            except (OSError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
                self.failure = exc

    def start(self, session_id: str | None, backend: str) -> None:
        self._call("start", session_id, backend)

    def text(self, delta: str) -> None:
        text, self._held = printable_text(delta, self._held)
        self._call("text", text)

    def usage(self, usage: dict[str, int]) -> None:
        self._call("usage", usage)

    def error(self, message: str) -> None:
        self._call("error", printable_text(message, final=True)[0])

    def done(self, result: dict[str, Any]) -> None:
        if self._held:
            self._call("text", printable_text(self._held, final=True)[0])
            self._held = ""
        # the reply, the backend's error, its ids: a lone surrogate in any of them as U+FFFD
        shown = {key: printable_text(value, final=True)[0] if isinstance(value, str) else value
                 for key, value in result.items()}
        self._call("done", shown)

    def check(self, session_id: str | None) -> None:
        """After the turn is recorded: a reader that went away is BrokenPipeError (exit 0,
        as for any command); any other failure to write is an error that says the turn is
        kept."""
        failure = self.failure
        if failure is None:
            return
        if isinstance(failure, BrokenPipeError):
            raise BrokenPipeError
        from clinvk.errors import OutputFailed

        kept = f"the turn is recorded in session {session_id[:8]}" if session_id else \
            "the turn ran (--ephemeral: not recorded)"
        raise OutputFailed(f"cannot write the turn's output ({failure}); {kept}")


def make_renderer(fmt: str, stdout: IO[str], stderr: IO[str], show_tokens: bool = False) -> Renderer:
    if fmt == "json":
        return JsonRenderer(stdout, stderr)
    if fmt == "stream-json":
        return StreamJsonRenderer(stdout, stderr)
    return TextRenderer(stdout, stderr, show_tokens)

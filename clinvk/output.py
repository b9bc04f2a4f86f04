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


def make_renderer(fmt: str, stdout: IO[str], stderr: IO[str], show_tokens: bool = False) -> Renderer:
    if fmt == "json":
        return JsonRenderer(stdout, stderr)
    if fmt == "stream-json":
        return StreamJsonRenderer(stdout, stderr)
    return TextRenderer(stdout, stderr, show_tokens)

"""Where a prompt comes from: the command's words, piped stdin, or both — and what of it may
reach a backend: text without NUL or undecodable bytes (see `clean`); a working directory
or a model that cannot be recorded is refused (`refuse_unstorable`)."""

from __future__ import annotations

from clinvk.env import Environment

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from typing import Protocol

    class TurnTexts(Protocol):
        """The free text of a turn (a clinvk.turn.TurnSpec): what `clean_spec` cleans."""

        prompt: str
        stored_prompt: str | None
        title: str | None
        tags: tuple[str, ...]
        metadata: dict[str, str] | None

REPLACEMENT = "\ufffd"
# a NUL, or a lone surrogate: an argument's or stdin's undecodable byte (surrogateescape)
# or one a transcript or a Python caller carried in
_UNSENDABLE = "[\x00\ud800-\udfff]"  # compiled only for a text that holds one (re caches it)


def clean(text: str) -> tuple[str, int]:
    """`text` with every NUL and undecodable byte replaced by U+FFFD, and how many there were.
    An argv string cannot hold NUL, and the store keeps UTF-8: such a prompt would fail at
    the spawn or, worse, after the backend had run and billed."""
    if "\x00" not in text:
        try:
            text.encode("utf-8")  # the common case, at C speed
            return text, 0
        except UnicodeEncodeError:
            pass
    import re  # only for a text that holds such a byte: not before every turn's spawn

    return re.subn(_UNSENDABLE, REPLACEMENT, text)


def clean_spec(spec: TurnTexts, env: Environment) -> None:
    """Clean a turn's prompt, title and tags in place before anything is spawned, with one
    warning naming what held such bytes."""
    dirty: dict[str, int] = {}

    def cleaned(what: str, text: str) -> str:
        text, count = clean(text)
        if count:
            dirty[what] = dirty.get(what, 0) + count
        return text

    spec.prompt = cleaned("the prompt", spec.prompt)
    if spec.stored_prompt is not None:
        spec.stored_prompt = cleaned("the prompt", spec.stored_prompt)
    if spec.title is not None:
        spec.title = cleaned("the title", spec.title)
    spec.tags = tuple(cleaned("a tag", tag) for tag in spec.tags)
    if spec.metadata:
        spec.metadata = {cleaned("metadata", key): cleaned("metadata", value)
                         for key, value in spec.metadata.items()}
    if dirty:
        what = " and ".join(dirty)
        env.warn(f"{what} held {sum(dirty.values())} NUL or non-UTF-8 byte(s): each was "
                 "replaced by U+FFFD before the backend ran")


def _undecodable(text: str | None) -> bool:
    return text is not None and clean(text)[1] > 0


def refuse_unstorable(workdir: str, model: str | None) -> None:
    """UsageError (exit 2, before anything is spawned) for what a session record would hold
    and what cannot be replaced like free text: a working directory whose path is not UTF-8
    (the store keeps paths as UTF-8 text; another name would be another folder), a model
    name that is not (another name would be another model) or is too long to keep."""
    from clinvk.words import MODEL_MAX

    if model is not None and len(model) > MODEL_MAX:
        from clinvk.errors import UsageError

        raise UsageError(f"the model name {model[:20]!r}... is longer than {MODEL_MAX} characters")
    if not (_undecodable(workdir) or _undecodable(model)):
        return
    from clinvk.display import printable
    from clinvk.errors import UsageError

    if _undecodable(workdir):
        raise UsageError(f"clinvk cannot record a session in a directory whose path is not "
                         f"UTF-8: {printable(workdir)} (rename it, or use --ephemeral)")
    if _undecodable(model):
        raise UsageError(f"the model name {printable(model)} is not UTF-8 text (or holds NUL)")


# a prompt piped in is read up to this: far beyond any backend's context (a million tokens is
# ~4 MB of text), and short of what `< /dev/zero` or a stray `cat big.iso |` would take of memory
STDIN_MAX = 16 << 20


def _read_stdin(env: Environment) -> str:
    """Piped stdin as text: bytes that are not UTF-8 are kept as surrogates for `clean`;
    UsageError past STDIN_MAX."""
    stream = env.stdin
    try:
        raw = getattr(stream, "buffer", None)
        data = raw.read(STDIN_MAX + 1) if raw is not None else stream.read(STDIN_MAX + 1)
    except (OSError, ValueError):
        return ""
    if len(data) > STDIN_MAX:
        from clinvk.errors import UsageError

        raise UsageError(f"the prompt piped in is larger than {STDIN_MAX >> 20} MiB: no backend "
                         "takes that much in one prompt")
    return data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data


def read_prompt(env: Environment, words: tuple[str, ...] | list[str]) -> str:
    """Words joined by spaces; piped stdin is added after them (as `claude -p` does). Bytes
    that are not UTF-8 stay surrogates here; `clean_spec` replaces them before the turn."""
    prompt = " ".join(words)
    if env.stdin_isatty or env.stdin is None:
        return prompt
    piped = _read_stdin(env)
    if not piped.strip():
        return prompt
    piped = piped.rstrip("\n")
    return f"{prompt}\n\n{piped}" if prompt.strip() else piped

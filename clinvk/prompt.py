"""Where a prompt comes from: the command's words, piped stdin, or both."""

from __future__ import annotations

from clinvk.env import Environment


def read_prompt(env: Environment, words: tuple[str, ...] | list[str]) -> str:
    """Words joined by spaces; piped stdin is added after them (as `claude -p` does)."""
    prompt = " ".join(words)
    if env.stdin_isatty or env.stdin is None:
        return prompt
    try:
        piped = env.stdin.read()
    except (OSError, ValueError):
        piped = ""
    if not piped.strip():
        return prompt
    piped = piped.rstrip("\n")
    return f"{prompt}\n\n{piped}" if prompt.strip() else piped

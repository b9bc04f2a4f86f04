"""The real claude / codex / gemini run DIRECTLY (not through clinvk) against a StandIn, in a
scratch HOME: headless turns (`claude -p`, `codex exec`, `gemini -p`, and their resume),
and each TUI driven in a pty (type a prompt, wait for the answer, quit). For each turn, what
the stand-in billed, split into what the backend's own store can hold (the requests of the
conversation) and what it never holds (claude 2.1.197's and codex's title requests in
their TUIs, gemini's model-router request): `tests/test_e2e_adopt.py` adopts these.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pexpect
import realcli
from standin import StandIn, sum_usage
from test_interactive import _claude_exit, _claude_ready, _claude_turn, wait_screen


def hidden_kind(request: dict[str, Any]) -> str | None:
    """Why no store of the backend holds this request (None: the conversation's own)."""
    last = (request.get("user_texts") or [""])[-1]
    if request.get("kind") == "utility":
        return "gemini router"
    if last.startswith("Generate a concise, single-line task title"):
        return "codex title"
    if "<session>" in last and "title" in last.lower():
        return "claude title"
    return None


@dataclass
class Turn:
    """One prompt sent directly: the requests it made and their bills."""

    prompt: str
    requests: list[dict[str, Any]]

    @property
    def seen(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if hidden_kind(r) is None]

    @property
    def hidden(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if hidden_kind(r) is not None]

    @property
    def bill(self) -> dict[str, int]:
        """What the backend's store can hold of this turn's bill (its own requests)."""
        return sum_usage([r["billed"] for r in self.seen])

    @property
    def hidden_bill(self) -> dict[str, int]:
        return sum_usage([r["billed"] for r in self.hidden])


@dataclass
class Conversation:
    """A conversation made directly with a backend CLI."""

    backend: str
    how: str  # "headless" or "tui"
    cwd: Path
    backend_session_id: str
    turns: list[Turn] = field(default_factory=list)

    @property
    def prompts(self) -> list[str]:
        return [t.prompt for t in self.turns]

    @property
    def bill(self) -> dict[str, int]:
        return sum_usage([t.bill for t in self.turns])

    @property
    def hidden_bill(self) -> dict[str, int]:
        return sum_usage([t.hidden_bill for t in self.turns])

    @property
    def models(self) -> set[str]:
        return {r["model"] for t in self.turns for r in t.seen if r.get("model")}


class DirectCLIs:
    """The three CLIs (claude at `claude_path`), one scratch HOME, run directly."""

    def __init__(self, standin: StandIn, root: Path, claude_path: str | None = None) -> None:
        self.standin = standin
        self.root = root
        self.home = root / "home"
        self.paths = {"claude": claude_path or realcli.require_cli("claude"),
                      "codex": realcli.find_cli("codex"), "gemini": realcli.find_cli("gemini")}
        self._trusted: list[Path] = []

    def project(self, name: str) -> Path:
        """A project folder of its own (`root/name`), trusted by the three CLIs."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        self._trusted.append(path)
        for cli in ("claude", "gemini"):
            realcli.setup_cli_home(cli, self.standin, self.home, path)
        realcli.setup_cli_home("codex", self.standin, self.home, None)
        with (self.home / ".codex" / "config.toml").open("a") as fh:  # every project trusted
            for folder in self._trusted:
                fh.write(f'\n[projects."{folder.resolve()}"]\ntrust_level = "trusted"\n')
        return path

    def env(self, cli: str) -> dict[str, str]:
        return realcli.cli_env(cli, self.standin, self.home, self.paths[cli])

    def _requests(self, cli: str, mark: int) -> list[dict[str, Any]]:
        return [r for r in self.standin.requests[mark:] if r["api"] == realcli.API_OF[cli]]

    # ------------------------------------------------------------------ headless

    def headless(self, cli: str, prompt: str, cwd: Path,
                 resume: str | None = None) -> tuple[str, Turn]:
        """One headless turn (new, or continuing `resume`): (backend session id, its turn)."""
        exe = self.paths[cli] or realcli.require_cli(cli)
        mark = self.standin.mark()
        done = realcli.run_headless(cli, realcli.headless_argv(cli, prompt, resume=resume,
                                                               cli_path=exe),
                                    self.env(cli), cwd, timeout=180)
        assert done.returncode == 0, (cli, done.stdout[-2000:], done.stderr[-2000:])
        events = realcli.json_lines(done.stdout)
        sid = realcli.turn_session_id(cli, events)
        assert sid, (cli, done.stdout[-2000:])
        return sid, Turn(prompt, self._requests(cli, mark))

    def headless_conversation(self, cli: str, cwd: Path, prompts: list[str]) -> Conversation:
        """A new conversation, each later prompt continued directly (`--resume` / `resume`)."""
        sid, turn = self.headless(cli, prompts[0], cwd)
        conv = Conversation(cli, "headless", cwd, sid, [turn])
        for prompt in prompts[1:]:
            self.continue_directly(conv, prompt)
        return conv

    def continue_directly(self, conv: Conversation, prompt: str,
                          cwd: Path | None = None) -> Turn:
        """One more headless turn of `conv` run directly; added to conv.turns."""
        sid, turn = self.headless(conv.backend, prompt, cwd or conv.cwd,
                                  resume=conv.backend_session_id)
        assert sid == conv.backend_session_id, (sid, conv.backend_session_id)
        conv.turns.append(turn)
        return turn

    # ------------------------------------------------------------------ TUIs

    def native_ids(self, cli: str) -> set[str]:
        """The session ids of the conversations in `cli`'s store under this HOME."""
        if cli == "claude":
            return {p.stem for p in (self.home / ".claude" / "projects").glob("*/*.jsonl")}
        if cli == "codex":
            return {p.stem[-36:] for p in (self.home / ".codex" / "sessions").rglob("rollout-*.jsonl")}
        out = set()
        for path in (self.home / ".gemini" / "tmp").glob("*/chats/session-*.json*"):
            try:
                head = json.loads(path.read_text().splitlines()[0])
            except (ValueError, IndexError, OSError):
                continue
            if head.get("sessionId"):
                out.add(head["sessionId"])
        return out

    def native_file(self, cli: str, session_id: str) -> Path:
        """The file of `cli`'s store holding this conversation (gemini: its newest)."""
        if cli == "claude":
            found = list((self.home / ".claude" / "projects").glob(f"*/{session_id}.jsonl"))
        elif cli == "codex":
            found = list((self.home / ".codex" / "sessions").rglob(f"rollout-*-{session_id}.jsonl"))
        else:
            found = [p for p in (self.home / ".gemini" / "tmp").glob(
                f"*/chats/session-*-{session_id[:8]}.json*") if session_id in p.read_text()]
        assert found, (cli, session_id)
        return max(found, key=lambda p: p.stat().st_mtime_ns)

    def tui(self, cli: str, cwd: Path, prompts: list[str]) -> Conversation:
        """A new conversation in `cli`'s TUI: each prompt typed and answered, then quit.
        Each prompt must end in a stand-in mark (MARK:xyz): the answer shows it."""
        before = self.native_ids(cli)
        env = self.env(cli)
        argv = [self.paths[cli] or realcli.require_cli(cli)]
        if cli == "codex":
            argv.append("--no-daemon")  # no shared background server outliving the test
        if cli == "claude":
            env.pop("NO_COLOR", None)
        child = pexpect.spawn(argv[0], argv[1:], cwd=str(cwd), env=env, encoding="utf-8",
                              codec_errors="replace", dimensions=(40, 120), timeout=60)
        turns = []
        try:
            _ready(cli, child)
            for prompt in prompts:
                mark = self.standin.mark()
                _type(cli, child, prompt)
                turns.append((prompt, mark))
            _quit(cli, child)
        finally:
            if child.isalive():
                child.terminate(force=True)
        # each prompt's requests: from its mark to the next one's
        marks = [m for _p, m in turns] + [self.standin.mark()]
        api = realcli.API_OF[cli]
        conv_turns = [Turn(p, [r for r in self.standin.requests[marks[i]:marks[i + 1]]
                               if r["api"] == api]) for i, (p, _m) in enumerate(turns)]
        [sid] = self.native_ids(cli) - before
        return Conversation(cli, "tui", cwd, sid, conv_turns)


REPLY = {"claude": "messages. {mark}", "codex": "user messages. {mark}",
         "gemini": "contents. {mark}"}


def _ready(cli: str, child: pexpect.spawn) -> None:
    if cli == "claude":
        _claude_ready(child)
    elif cli == "gemini":
        wait_screen(child, "Type your message")  # its input box: ready for typing
        time.sleep(1.5)
    else:
        time.sleep(6)  # codex draws nothing to wait for that it does not draw before ready


def _type(cli: str, child: pexpect.spawn, prompt: str) -> None:
    mark = prompt.rsplit(" ", 1)[-1]
    if cli == "claude":
        _claude_turn(child, prompt, mark)
        time.sleep(1)
        return
    child.send(prompt)
    time.sleep(0.5)
    child.send("\r")
    wait_screen(child, REPLY[cli].format(mark=mark))
    time.sleep(3)  # the store written, codex's title request answered


def _quit(cli: str, child: pexpect.spawn) -> None:
    if cli == "claude":
        assert _claude_exit(child) == 0
        return
    child.send("\x03")
    time.sleep(0.4)
    child.send("\x03")  # Ctrl-C twice quits both
    child.expect(pexpect.EOF, timeout=30)
    child.close()

#!/usr/bin/env python3
"""A small fake interactive CLI that writes its session store the way the real ones do.

    fake_tui.py claude [--session-id UUID] [--resume UUID [--fork-session]] [--model M]
    fake_tui.py codex  [resume [-m M] -- THREAD_ID]
    fake_tui.py gemini [--resume UUID] [-m M]
    (a new session's first message: claude `... PROMPT`, codex `... -- PROMPT`,
    gemini `--prompt-interactive=PROMPT`)

(also chosen by FAKE_TUI_FLAVOR). The terminal is put in raw mode like a TUI's. Typed
characters are echoed; Enter submits the line, which is answered with a green
"FAKE REPLY to: LINE" and written to the flavour's store with deterministic usage:

    claude  per reply: input_tokens 100 (uncached), cache_read 40, cache_creation 20,
            output 7; written as two assistant lines of the same message id (as claude
            writes one line per content block)
    codex   per reply: input 200 (incl. 50 cached), output 9 (incl. 3 reasoning),
            as running totals in token_count events
    gemini  per reply: tokens input 300 (incl. 60 cached), output 11, thoughts 4

Keys: Ctrl-C once prints "[interrupt]", twice in a row exits with code 130; Ctrl-Z
suspends (SIGTSTP, after restoring the terminal); "/size" prints the pty size; "/exit"
or "/exit N" ends with code N (default 0). A resize prints "[resized ROWSxCOLS]".
FAKE_TUI_OTHER_DIR=DIR: codex/gemini also create a session of DIR (another terminal).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import signal
import sys
import termios
import time
import tty
import uuid
from pathlib import Path


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def home() -> Path:
    return Path(os.environ.get("HOME") or os.path.expanduser("~"))


def append(path: Path, *records: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")


# --- the three stores ----------------------------------------------------------------


class ClaudeStore:
    def __init__(self, args: list[str], cwd: str) -> None:
        self.id = _opt(args, "--session-id") or _opt(args, "--resume")
        if not self.id:
            self.id = str(uuid.uuid4())
        self.model = _opt(args, "--model") or "claude-fake-1"
        base = Path(os.environ.get("CLAUDE_CONFIG_DIR") or home() / ".claude")
        self.path = base / "projects" / re.sub(r"[^A-Za-z0-9]", "-", cwd) / f"{self.id}.jsonl"
        self.cwd = cwd
        original = _opt(args, "--resume")
        if "--fork-session" in args and original and original != self.id:  # claude's own copy
            source = self.path.with_name(f"{original}.jsonl")
            for line in source.read_text().splitlines():
                append(self.path, {**json.loads(line), "sessionId": self.id})

    def turn(self, prompt: str, reply: str) -> None:
        common = {"sessionId": self.id, "cwd": self.cwd, "isSidechain": False}
        msg_id = "msg_" + uuid.uuid4().hex[:20]
        usage = {"input_tokens": 100, "cache_read_input_tokens": 40,
                 "cache_creation_input_tokens": 20, "output_tokens": 7}
        append(self.path,
               {"type": "user", "timestamp": now(), "uuid": str(uuid.uuid4()),
                "message": {"role": "user", "content": prompt}, **common},
               {"type": "assistant", "timestamp": now(), "uuid": str(uuid.uuid4()),
                "message": {"id": msg_id, "role": "assistant", "model": self.model,
                            "content": [{"type": "thinking", "thinking": "hm"}], "usage": usage},
                **common},
               {"type": "assistant", "timestamp": now(), "uuid": str(uuid.uuid4()),
                "message": {"id": msg_id, "role": "assistant", "model": self.model,
                            "content": [{"type": "text", "text": reply}], "usage": usage},
                **common})


class CodexStore:
    def __init__(self, args: list[str], cwd: str, other: bool = False) -> None:
        self.base = Path(os.environ.get("CODEX_HOME") or home() / ".codex") / "sessions"
        self.cwd = cwd
        self.model = _opt(args, "-m") or "gpt-fake"
        self.total = {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0,
                      "reasoning_output_tokens": 0}
        resume = args[args.index("--") + 1] if "resume" in args and "--" in args else None
        if resume:
            self.path = next(self.base.glob(f"*/*/*/rollout-*-{resume}.jsonl"))
            for line in self.path.read_text().splitlines():
                obj = json.loads(line)
                info = (obj.get("payload") or {}).get("info") or {}
                if info.get("total_token_usage"):
                    self.total = dict(info["total_token_usage"])
            return
        self.id = str(uuid.uuid4())
        day = datetime.datetime.now()
        stamp = day.strftime("%Y-%m-%dT%H-%M-%S")
        self.path = self.base / day.strftime("%Y/%m/%d") / f"rollout-{stamp}-{self.id}.jsonl"
        append(self.path, {"timestamp": now(), "type": "session_meta",
                           "payload": {"id": self.id, "cwd": cwd, "originator": "codex_tui"}},
               {"timestamp": now(), "type": "turn_context", "payload": {"model": self.model}},
               {"timestamp": now(), "type": "response_item",
                "payload": {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": f"<environment_context>{cwd}</environment_context>"}]}})

    def turn(self, prompt: str, reply: str) -> None:
        for key, add in (("input_tokens", 200), ("cached_input_tokens", 50), ("output_tokens", 9),
                         ("reasoning_output_tokens", 3)):
            self.total[key] += add
        append(self.path,
               {"timestamp": now(), "type": "response_item", "payload": {
                   "type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}},
               {"timestamp": now(), "type": "response_item", "payload": {
                   "type": "function_call", "name": "exec_command", "arguments": '{"cmd": "ls"}'}},
               {"timestamp": now(), "type": "response_item", "payload": {
                   "type": "function_call_output", "output": "file.txt"}},
               {"timestamp": now(), "type": "response_item", "payload": {
                   "type": "message", "role": "assistant",
                   "content": [{"type": "output_text", "text": reply}]}},
               {"timestamp": now(), "type": "event_msg", "payload": {
                   "type": "token_count", "info": {"total_token_usage": dict(self.total)}}})


class GeminiStore:
    def __init__(self, args: list[str], cwd: str) -> None:
        base = Path(os.environ.get("GEMINI_CLI_HOME") or home()) / ".gemini"
        self.model = _opt(args, "-m") or "gemini-fake"
        resume = _opt(args, "--resume")
        if resume:
            self.id = resume
            self.path = next(base.glob(f"tmp/*/chats/session-*-{resume[:8]}.jsonl"))
            head = json.loads(self.path.read_text().splitlines()[0])
            append(self.path, {**head, "lastUpdated": now()})
            return
        self.id = str(uuid.uuid4())
        slug = Path(cwd).name or "root"
        registry = base / "projects.json"
        data = json.loads(registry.read_text()) if registry.exists() else {"projects": {}}
        data["projects"][cwd] = slug
        registry.parent.mkdir(parents=True, exist_ok=True)
        registry.write_text(json.dumps(data))
        stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H-%M")
        self.path = base / "tmp" / slug / "chats" / f"session-{stamp}-{self.id[:8]}.jsonl"
        append(self.path, {"sessionId": self.id, "projectHash": hashlib.sha256(cwd.encode()).hexdigest(),
                           "startTime": now(), "lastUpdated": now(), "kind": "main"},
               {"$set": {"messages": [{
                   "id": "ctx", "timestamp": now(), "type": "user",
                   "content": [{"text": "<session_context>\nfake\n</session_context>"}]}]}})

    def turn(self, prompt: str, reply: str) -> None:
        append(self.path,
               {"id": str(uuid.uuid4()), "timestamp": now(), "type": "user", "content": [{"text": prompt}]},
               {"$set": {"lastUpdated": now()}},
               {"id": str(uuid.uuid4()), "timestamp": now(), "type": "gemini", "content": reply,
                "thoughts": [], "model": self.model,
                "tokens": {"input": 300, "output": 11, "cached": 60, "thoughts": 4, "tool": 0,
                           "total": 315}})


def _opt(args: list[str], name: str) -> str | None:
    if name in args and args.index(name) + 1 < len(args):
        return args[args.index(name) + 1]
    return None


def _first_message(flavor: str, args: list[str]) -> str | None:
    """A prompt given on the command line, sent as the session's first message:
    claude `[options] PROMPT`, codex `[options] -- PROMPT`, gemini `--prompt-interactive=PROMPT`."""
    if flavor == "gemini":
        given = [a.split("=", 1)[1] for a in args if a.startswith("--prompt-interactive=")]
        return given[0] if given else _opt(args, "-i")
    if flavor == "codex":
        return args[args.index("--") + 1] if "--" in args and "resume" not in args else None
    valued = ("--session-id", "--resume", "--model", "-m")
    if args and not args[-1].startswith("-") and (len(args) < 2 or args[-2] not in valued):
        return args[-1]
    return None


# --- the "TUI" -----------------------------------------------------------------------


def out(text: str) -> None:
    os.write(1, text.encode())


def size() -> str:
    s = os.get_terminal_size(0)
    return f"{s.lines}x{s.columns}"


def main() -> int:
    args = sys.argv[1:]
    flavor = os.environ.get("FAKE_TUI_FLAVOR") or (args.pop(0) if args else "claude")
    cwd = os.getcwd()
    stores = {"claude": ClaudeStore, "codex": CodexStore, "gemini": GeminiStore}
    store = stores[flavor](args, cwd)
    other_dir = os.environ.get("FAKE_TUI_OTHER_DIR")
    other = None
    if other_dir and flavor in ("codex", "gemini"):
        other = stores[flavor]([], other_dir)
    signal.signal(signal.SIGWINCH, lambda *_: out(f"\r\n[resized {size()}]\r\n"))
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    line = ""
    interrupts = 0
    code = 0
    try:
        out(f"\x1b[1mfake {flavor} ready\x1b[0m {size()}\r\n> ")
        first = _first_message(flavor, args)
        if first:
            store.turn(first, f"FAKE REPLY to: {first}")
            out("\x1b[32mFAKE REPLY to the first message\x1b[0m\r\n> ")
        while True:
            try:
                data = os.read(0, 1024)
            except InterruptedError:
                continue
            if not data:
                break
            done = False
            for ch in data.decode(errors="replace"):
                if ch == "\x03":
                    interrupts += 1
                    if interrupts >= 2:
                        code, done = 130, True
                        break
                    out("\r\n[interrupt]\r\n> ")
                    continue
                interrupts = 0
                if ch == "\x1a":
                    termios.tcsetattr(0, termios.TCSADRAIN, saved)
                    out("\r\n[suspended]\r\n")
                    os.kill(os.getpid(), signal.SIGTSTP)
                    tty.setraw(0)
                    out("[continued]\r\n> ")
                    continue
                if ch in "\r\n":
                    text, line = line.strip(), ""
                    out("\r\n")
                    if text.startswith("/exit"):
                        parts = text.split()
                        code, done = (int(parts[1]) if len(parts) > 1 else 0), True
                        break
                    if text == "/size":
                        out(f"size {size()}\r\n> ")
                    elif text:
                        reply = f"FAKE REPLY to: {text}"
                        store.turn(text, reply)
                        if other is not None:
                            time.sleep(0.05)
                            other.turn("other " + text, "other reply")
                        out(f"\x1b[32m{reply}\x1b[0m\r\n> ")
                    else:
                        out("> ")
                elif ch in "\x7f\b":
                    line = line[:-1]
                    out("\b \b")
                else:
                    line += ch
                    out(ch)
            if done:
                break
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)
    out("bye\r\n")
    return code


if __name__ == "__main__":
    sys.exit(main())

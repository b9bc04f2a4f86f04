"""How the files beside this one were made (run from the repository: python
tests/samples/stores/adopt/capture.py). Each real CLI, run directly (not through clinvk)
against the stand-in API with a scratch HOME, says two prompts (a new session and a resume);
its store file is copied here as `<cli>.<ext>` and what the stand-in billed per prompt into
`<cli>.billed.json`. The working directory was /tmp/adopt-capture/work."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import realcli  # noqa: E402
from standin import StandIn  # noqa: E402

HERE = Path(__file__).resolve().parent
API = {"claude": "anthropic", "codex": "openai", "gemini": "gemini"}


def capture(name: str, cli: str, label: str, api: StandIn) -> None:
    root = Path("/tmp/adopt-capture") / label
    shutil.rmtree(root, ignore_errors=True)
    home, work = root / "home", Path("/tmp/adopt-capture/work")
    work.mkdir(parents=True, exist_ok=True)
    env = realcli.prepare_cli(name, api, home, work, cli)
    billed, sid = [], None
    for prompt in ("first adopt question", "second adopt question"):
        mark = api.mark()
        done = realcli.run_headless(name, realcli.headless_argv(name, prompt, sid, cli_path=cli),
                                    env, work, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        sid = sid or realcli.turn_session_id(name, realcli.json_lines(done.stdout))
        billed.append(api.billed_total(API[name], since=mark))
    if name == "claude":
        [found] = (home / ".claude" / "projects").glob(f"*/{sid}.jsonl")
    elif name == "codex":
        [found] = (home / ".codex" / "sessions").glob(f"*/*/*/rollout-*-{sid}.jsonl")
    else:
        found = [p for p in (home / ".gemini" / "tmp").glob("*/chats/session-*")
                 if sid[:8] in p.name][-1]
    shutil.copy(found, HERE / f"{label}{''.join(found.suffixes[-1:])}")
    rel = found.relative_to(home)
    (HERE / f"{label}.billed.json").write_text(json.dumps(
        {"path": f"~/{rel}", "session_id": sid, "billed": billed}, indent=1) + "\n")


def main() -> None:
    with StandIn() as api:
        capture("claude", realcli.require_cli("claude"), "claude-2.1.330", api)
        capture("claude", realcli.require_claude_alt(), "claude-2.1.197", api)
        capture("codex", realcli.require_cli("codex"), "codex-0.169.0", api)
        capture("gemini", realcli.require_cli("gemini"), "gemini-0.61.0", api)


if __name__ == "__main__":
    main()

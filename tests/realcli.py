"""Run the real ``claude`` / ``codex`` / ``gemini`` CLIs against a :class:`StandIn`.

Plain functions (no pytest fixtures) so ``conftest.py`` can wire them as it likes::

    with StandIn() as api:
        home = tmp_path / "home"; work = tmp_path / "work"; work.mkdir()
        env = prepare_cli("claude", api, home, workdir=work)   # files + environment
        subprocess.run(headless_argv("claude", "hi"), env=env, cwd=work, ...)

Everything a CLI writes goes under the scratch ``home`` (HOME, XDG dirs,
CODEX_HOME, CLAUDE_CONFIG_DIR default).  Each CLI talks only to the stand-in on
127.0.0.1; telemetry, update checks and colour are off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

CLIS = ("claude", "codex", "gemini")

#: which StandIn api each CLI talks to
API_OF = {"claude": "anthropic", "codex": "openai", "gemini": "gemini"}

#: the API key handed to the CLIs (any string works against the stand-in)
FAKE_KEY = "sk-ant-mock-0123456789abcdefghijklmnopqrstuvwxyz"

#: the model name we give codex in its config (it has no metadata for it: harmless warning)
CODEX_MODEL = "gpt-mock"

NPM_BIN_ENV = "CLINVK_TEST_NPM_BIN"


#: claude 2.1.197, what npm installs on node 20 without a pin: the usage tests also run on it
CLAUDE_ALT_VERSION = "2.1.197"
CLAUDE_ALT_ENV = "CLINVK_TEST_CLAUDE_ALT_BIN"  # the path of that claude binary
CLAUDE_ALT_DIR_ENV = "CLINVK_TEST_CLAUDE_ALT_DIR"  # or the npm prefix it is installed in


def claude_alt_prefix() -> Path:
    return Path(os.environ.get(CLAUDE_ALT_DIR_ENV)
                or Path.home() / ".cache" / f"clinvk-test-npm-{CLAUDE_ALT_VERSION.rsplit('.', 1)[-1]}")


def find_claude_alt() -> str | None:
    """Path of claude 2.1.197: ``$CLINVK_TEST_CLAUDE_ALT_BIN``, else in its npm prefix."""
    given = os.environ.get(CLAUDE_ALT_ENV)
    path = Path(given) if given else claude_alt_prefix() / "node_modules" / ".bin" / "claude"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def require_claude_alt() -> str:
    """claude 2.1.197 for a test: skip (or fail when ``CI=true``) if missing."""
    path = find_claude_alt()
    if path:
        return path
    _missing(f"claude {CLAUDE_ALT_VERSION} not found (set {CLAUDE_ALT_ENV} to its binary or "
             f"{CLAUDE_ALT_DIR_ENV} to the npm prefix it is installed in)")
    raise AssertionError("unreachable")


def require_claude(version: str | None) -> str:
    """The pinned claude (``version`` None or the pinned one) or claude 2.1.197."""
    return require_claude_alt() if version == CLAUDE_ALT_VERSION else require_cli("claude")


def _missing(msg: str) -> None:
    import pytest

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg)
    pytest.skip(msg)


class CLINotFound(RuntimeError):
    pass


def find_cli(name: str) -> str | None:
    """Path of the ``name`` binary: ``$CLINVK_TEST_NPM_BIN/name`` first, then ``PATH``."""
    d = os.environ.get(NPM_BIN_ENV)
    if d:
        p = Path(d) / name
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    return shutil.which(name)


def require_cli(name: str) -> str:
    """Like :func:`find_cli` but for tests: skip (or fail when ``CI=true``) if missing."""
    path = find_cli(name)
    if path:
        return path
    _missing(f"{name} CLI not found (set {NPM_BIN_ENV} to a node_modules/.bin directory or put "
             f"{name} on PATH)")
    raise AssertionError("unreachable")


def _base_env(home: Path, cli_path: str | None) -> dict[str, str]:
    """Minimal, deterministic environment: inherited PATH (plus the CLI's directory)."""
    path_parts = []
    if cli_path:
        path_parts.append(str(Path(cli_path).parent))
    # node must be reachable (gemini is JavaScript, `#!/usr/bin/env node`)
    path_parts.append(os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"))
    env = {
        "PATH": os.pathsep.join(path_parts),
        "HOME": str(home),
        "USER": os.environ.get("USER", "tester"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "xterm-256color",
        "TMPDIR": str(home / "tmp"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "NO_COLOR": "1",
        "FORCE_COLOR": "0",
        "NO_UPDATE_NOTIFIER": "1",
        "DO_NOT_TRACK": "1",
        # make sure nothing goes through a proxy or reaches out
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for k in ("NODE_OPTIONS", "NVM_DIR"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def cli_env(name: str, standin: Any, home: Path, cli_path: str | None = None) -> dict[str, str]:
    """The complete environment to run CLI ``name`` against ``standin`` with HOME=``home``.

    Does not write files; see :func:`setup_cli_home` (or :func:`prepare_cli` for both).
    """
    home = Path(home)
    if cli_path is None:
        cli_path = find_cli(name)
    env = _base_env(home, cli_path)
    url = standin.url if hasattr(standin, "url") else str(standin)
    if name == "claude":
        env.update(
            {
                "ANTHROPIC_BASE_URL": url,
                "ANTHROPIC_API_KEY": FAKE_KEY,
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "DISABLE_AUTOUPDATER": "1",
                "DISABLE_TELEMETRY": "1",
                "DISABLE_ERROR_REPORTING": "1",
                "DISABLE_BUG_COMMAND": "1",
                "CLAUDE_CODE_ENABLE_TELEMETRY": "0",
                "CLAUDE_CODE_IDE_SKIP_AUTO_INSTALL": "1",
                "IS_SANDBOX": "1",
            }
        )
    elif name == "codex":
        env.update(
            {
                "CODEX_HOME": str(home / ".codex"),
                "MOCK_API_KEY": FAKE_KEY,
                "RUST_LOG": "error",
            }
        )
    elif name == "gemini":
        env.update(
            {
                "GEMINI_API_KEY": FAKE_KEY,
                "GOOGLE_GEMINI_BASE_URL": url,
                "GEMINI_CLI_TRUST_WORKSPACE": "true",
                "GEMINI_TELEMETRY_ENABLED": "false",
                "GEMINI_CLI_NO_RELAUNCH": "true",
            }
        )
    else:
        raise ValueError(f"unknown CLI {name!r}")
    return env


def setup_cli_home(name: str, standin: Any, home: Path, workdir: Path | None = None) -> None:
    """Write the config files CLI ``name`` needs under ``home`` (idempotent).

    ``workdir`` is the project directory the CLI will run in (claude's TUI wants it
    marked as trusted in ``~/.claude.json``).
    """
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / "tmp").mkdir(exist_ok=True)
    url = standin.url if hasattr(standin, "url") else str(standin)
    if name == "claude":
        (home / ".claude").mkdir(exist_ok=True)
        state_path = home / ".claude.json"
        state: dict[str, Any] = {}
        if state_path.exists():
            state = json.loads(state_path.read_text())
        state.update(
            {
                "hasCompletedOnboarding": True,
                "lastOnboardingVersion": "2.1.330",
                "numStartups": 1,
                "autoUpdates": False,
                "hasSeenTasksHint": True,
                "bypassPermissionsModeAccepted": True,
                "customApiKeyResponses": {"approved": [FAKE_KEY[-20:]], "rejected": []},
            }
        )
        projects = state.setdefault("projects", {})
        if workdir is not None:
            for d in {str(Path(workdir)), str(Path(workdir).resolve())}:
                projects.setdefault(d, {}).update(
                    {
                        "hasTrustDialogAccepted": True,
                        "hasCompletedProjectOnboarding": True,
                        "projectOnboardingSeenCount": 1,
                    }
                )
        state_path.write_text(json.dumps(state, indent=2))
        settings = home / ".claude" / "settings.json"
        settings.write_text(
            json.dumps(
                {
                    "autoUpdates": False,
                    "includeCoAuthoredBy": False,
                    "env": {},
                },
                indent=2,
            )
        )
    elif name == "codex":
        cdir = home / ".codex"
        cdir.mkdir(exist_ok=True)
        (cdir / "config.toml").write_text(
            f'''model = "{CODEX_MODEL}"
model_provider = "mock"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false
hide_agent_reasoning = true

[model_providers.mock]
name = "mock"
base_url = "{url}/v1"
env_key = "MOCK_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 60000

[features]
plugins = false
remote_plugin = false
plugin_sharing = false
apps = false
tool_suggest = false
skill_mcp_dependency_install = false
shell_snapshot = false

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"
log_user_prompt = false
'''
        )
        if workdir is not None:
            with (cdir / "config.toml").open("a") as fh:
                fh.write(f'\n[projects."{Path(workdir).resolve()}"]\ntrust_level = "trusted"\n')
    elif name == "gemini":
        gdir = home / ".gemini"
        gdir.mkdir(exist_ok=True)
        (gdir / "settings.json").write_text(
            json.dumps(
                {
                    "security": {"auth": {"selectedType": "gemini-api-key"}},
                    "general": {
                        "disableAutoUpdate": True,
                        "disableUpdateNag": True,
                        "enableAutoUpdate": False,
                        "enableAutoUpdateNotification": False,
                    },
                    "privacy": {"usageStatisticsEnabled": False},
                    "telemetry": {"enabled": False},
                    "ui": {"hideTips": True, "hideBanner": True},
                    "ide": {"enabled": False, "hasSeenNudge": True},
                },
                indent=2,
            )
        )
    else:
        raise ValueError(f"unknown CLI {name!r}")


def prepare_cli(
    name: str, standin: Any, home: Path, workdir: Path | None = None, cli_path: str | None = None
) -> dict[str, str]:
    """Write the config files and return the environment (see cli_env/setup_cli_home)."""
    setup_cli_home(name, standin, home, workdir)
    return cli_env(name, standin, home, cli_path)


# --------------------------------------------------------------------------- argv


def headless_argv(
    name: str,
    prompt: str,
    resume: str | None = None,
    model: str | None = None,
    cli_path: str | None = None,
) -> list[str]:
    """The argv clinvk uses for one streamed headless turn (see docs/standin-findings.md)."""
    exe = cli_path or find_cli(name) or name
    if name == "claude":
        argv = [
            exe,
            "-p",
            prompt,
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
        ]
        if resume:
            argv += ["--resume", resume]
        if model:
            argv += ["--model", model]
        return argv
    if name == "codex":
        argv = [exe, "exec", "--json", "--skip-git-repo-check"]
        if model:
            argv += ["-m", model]
        if resume:
            argv += ["resume", resume]
        return argv + ["--", prompt]
    if name == "gemini":
        argv = [exe, "-p", prompt, "--output-format", "stream-json"]
        if resume:
            argv += ["--resume", resume]
        if model:
            argv += ["-m", model]
        return argv
    raise ValueError(name)


def run_headless(
    name: str,
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    timeout: float = 60,
) -> subprocess.CompletedProcess:
    """Run a headless turn without a terminal (stdin closed)."""
    return subprocess.run(
        argv,
        env=env,
        cwd=str(cwd),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_pty(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> tuple[str, int]:
    """Run under a pseudo-terminal like clinvk does (pexpect); (output, exit status).

    stdout and stderr arrive mixed, lines end in \\r\\n; use :func:`json_lines`.
    """
    import pexpect

    out, status = pexpect.run(
        argv[0],
        args=argv[1:],
        env=env,
        cwd=str(cwd),
        timeout=timeout,
        withexitstatus=True,
        encoding="utf-8",
        dimensions=(50, 200),
    )
    return out, status


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among the lines of ``text`` (non-JSON lines are skipped)."""
    out = []
    for line in text.splitlines():
        line = line.replace("\x1b[?25h", "").strip()
        if not line.startswith("{"):
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


# --------------------------------------------------------------------------- reading the output
# Reference implementation of the formulas in docs/standin-findings.md.

_USAGE_KEYS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
)


def turn_session_id(name: str, events: list[dict[str, Any]]) -> str | None:
    for e in events:
        if name == "claude" and e.get("type") == "system" and e.get("subtype") == "init":
            return e.get("session_id")
        if name == "codex" and e.get("type") == "thread.started":
            return e.get("thread_id")
        if name == "gemini" and e.get("type") == "init":
            return e.get("session_id")
    return None


def turn_reply_text(name: str, events: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for e in events:
        t = e.get("type")
        if name == "claude" and t == "result":
            parts.append(str(e.get("result") or ""))
        elif name == "codex" and t == "item.completed":
            item = e.get("item") or {}
            if item.get("type") == "agent_message":
                parts.append(item.get("text") or "")
        elif name == "gemini" and t == "message" and e.get("role") == "assistant":
            parts.append(e.get("content") or "")
    return ("" if name == "gemini" else "\n").join(parts)


def turn_usage(
    name: str,
    events: list[dict[str, Any]],
    previous_running: dict[str, int] | None = None,
) -> tuple[dict[str, int] | None, dict[str, int] | None]:
    """(usage of this turn in clinvk's normalised shape, codex running total or None).

    claude: last ``result`` event, ``usage`` (per invocation, all API calls of it):
        input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens,
        cached = cache_read_input_tokens, cache_creation = cache_creation_input_tokens,
        output = output_tokens, reasoning = output_tokens_details.thinking_tokens.
        (NOT ``modelUsage``: it is cumulative over the whole session across resumes.)
    codex: last ``turn.completed.usage`` is the THREAD's running total:
        turn = running - running before this invocation (``previous_running``, e.g.
        from the rollout file's last ``token_count.info.total_token_usage``);
        input = input_tokens, cached = cached_input_tokens,
        cache_creation = cache_write_input_tokens, output = output_tokens,
        reasoning = reasoning_output_tokens.
    gemini: ``result.stats`` (per invocation, includes the router call):
        input = input_tokens, cached = cached, output = total_tokens - input_tokens,
        reasoning = total_tokens - input_tokens - output_tokens, total = total_tokens.
    """
    if name == "claude":
        res = [e for e in events if e.get("type") == "result"]
        if not res:
            return None, None
        u = res[-1].get("usage") or {}
        cr = int(u.get("cache_read_input_tokens") or 0)
        cw = int(u.get("cache_creation_input_tokens") or 0)
        inp = int(u.get("input_tokens") or 0) + cr + cw
        out = int(u.get("output_tokens") or 0)
        reasoning = int((u.get("output_tokens_details") or {}).get("thinking_tokens") or 0)
        return _norm(inp, cr, cw, out, reasoning, inp + out), None
    if name == "codex":
        done = [e for e in events if e.get("type") == "turn.completed"]
        if not done:
            return None, None
        u = done[-1].get("usage") or {}
        running = _norm(
            int(u.get("input_tokens") or 0),
            int(u.get("cached_input_tokens") or 0),
            int(u.get("cache_write_input_tokens") or 0),
            int(u.get("output_tokens") or 0),
            int(u.get("reasoning_output_tokens") or 0),
            int(u.get("input_tokens") or 0) + int(u.get("output_tokens") or 0),
        )
        prev = previous_running or dict.fromkeys(_USAGE_KEYS, 0)
        return {k: running[k] - int(prev.get(k, 0)) for k in _USAGE_KEYS}, running
    if name == "gemini":
        res = [e for e in events if e.get("type") == "result"]
        if not res:
            return None, None
        st = res[-1].get("stats") or {}
        inp = int(st.get("input_tokens") or 0)
        total = int(st.get("total_tokens") or 0)
        cand = int(st.get("output_tokens") or 0)
        return _norm(inp, int(st.get("cached") or 0), 0, total - inp, total - inp - cand, total), None
    raise ValueError(name)


def codex_running_total(rollout: Path) -> dict[str, int] | None:
    """The thread's running total from a codex rollout file (last token_count event)."""
    last = None
    for line in Path(rollout).read_text().splitlines():
        if '"token_count"' not in line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        info = (obj.get("payload") or {}).get("info") or {}
        if info.get("total_token_usage"):
            last = info["total_token_usage"]
    if last is None:
        return None
    return _norm(
        int(last.get("input_tokens") or 0),
        int(last.get("cached_input_tokens") or 0),
        int(last.get("cache_write_input_tokens") or 0),
        int(last.get("output_tokens") or 0),
        int(last.get("reasoning_output_tokens") or 0),
        int(last.get("input_tokens") or 0) + int(last.get("output_tokens") or 0),
    )


def _norm(inp: int, cached: int, cw: int, out: int, reasoning: int, total: int) -> dict[str, int]:
    return {
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "cache_creation_input_tokens": cw,
        "output_tokens": out,
        "reasoning_tokens": reasoning,
        "total_tokens": total,
    }

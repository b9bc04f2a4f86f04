"""Shared fixtures: an isolated $CLINVK_HOME, and `clinvk` run in this process (the real
entry point, tests/cli_harness.py) or as a process of its own where a test needs one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_harness import Result, pipe_text, run_cli

REPO = Path(__file__).resolve().parents[1]
FAKES = REPO / "tests" / "fakes"
FAKE_CLI = FAKES / "fakecli.py"
# CLINVK_TEST_SUBPROCESS=1: every `Clinvk.run` as a process of its own (the old way, slow),
# to check that the in-process runs see what a real process sees
IN_PROCESS = not os.environ.get("CLINVK_TEST_SUBPROCESS")


class Clinvk:
    """`clinvk` with a private home: `run` in this process, `run_process` as a process
    (`python -m clinvk`) for what needs one: signals, a terminal, os._exit."""

    def __init__(self, tmp: Path) -> None:
        self.home = tmp / "clinvk-home"
        self.user_home = tmp / "home"
        self.user_home.mkdir(exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.user_home),
            "CLINVK_HOME": str(self.home),
            "LANG": "C.UTF-8",
            "PYTHONUTF8": "1",
        }
        self.cwd = tmp
        # the daily retention clean is kept from running (a fresh stamp) in a home that
        # exists before a command: test records carry fixed dates (2026-11-01...), which
        # the clean would remove once they are 30 days old; its own tests set this False.
        # A command that makes the home (the first one in a fresh home) runs the clean all
        # the same: a test whose first command brings dated sessions (an adopt of the
        # samples) calls keep_old_sessions() first
        self.hold_daily_clean = True

    def _hold_clean(self) -> None:
        from clinvk.paths import clean_stamp_path

        stamp = clean_stamp_path(self.home)
        if self.hold_daily_clean and self.home.is_dir() and not stamp.exists():
            stamp.touch()
            now = int(time.time()) - 1  # clinvk's clock counts whole seconds (utc_now)
            os.utime(stamp, (now, now))

    def config(self, text: str) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        path = self.home / "config.yaml"
        path.write_text(text)
        self._hold_clean()
        return path

    def keep_old_sessions(self) -> Path:
        """A config with `session.retention_days: 0`: neither a clean nor the import's
        expiry warning then depends on how old the sessions' fixed dates are by the day
        the tests run."""
        return self.config("session:\n  retention_days: 0\n")

    def add_fake_backend(self, name: str = "fake", **env: str) -> None:
        lines = [f"  {name}:", "    adapter: claude", f"    command: {FAKE_CLI}"]
        if env:
            lines.append("    env:")
            lines += [f"      {k}: {json.dumps(v)}" for k, v in env.items()]
        self.config("backends:\n" + "\n".join(lines) + "\n")

    def run(self, *args: str | bytes, cwd: Path | str | bytes | None = None,
            stdin: str | bytes | None = None,
            env: dict[str, str] | None = None, timeout: float = 120) -> Result:
        """`clinvk ARGS` through the real entry point, in this process (no timeout: pytest's)."""
        if not IN_PROCESS:
            return self.run_process(*args, cwd=cwd, stdin=stdin, env=env, timeout=timeout)
        self._hold_clean()
        try:
            return run_cli(args, stdin=stdin, environ={**self.env, **(env or {})},
                           cwd=cwd or self.cwd)
        finally:
            self._hold_clean()  # also after: what a test compares later already has it

    def run_process(self, *args: str | bytes, cwd: Path | str | bytes | None = None,
                    stdin: str | bytes | None = None, env: dict[str, str] | None = None,
                    timeout: float = 120) -> Result:
        """`python -m clinvk ARGS` as a process of its own."""
        self._hold_clean()
        try:
            done = self._process(args, cwd, stdin, env, timeout)
        finally:
            self._hold_clean()
        return Result(done.returncode, pipe_text(done.stdout), pipe_text(done.stderr),
                      done.stdout, done.stderr)

    def _process(self, args, cwd, stdin, env, timeout) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "clinvk", *args], cwd=cwd or self.cwd,
            env={**self.env, **(env or {})}, capture_output=True, timeout=timeout,
            input=stdin.encode() if isinstance(stdin, str) else stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )

    def sessions(self) -> list[dict]:
        result = self.run("sessions", "list", "--all", "--json")
        assert result.code == 0, result.err
        return result.json()


def recent(days_ago: float = 0) -> str:
    """An RFC 3339 'Z' time (whole seconds) `days_ago` before now: a record dated with it is
    as old on any day the tests run (a fixed date ages past session.retention_days)."""
    from datetime import datetime, timedelta, timezone

    when = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=days_ago)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def clinvk(tmp_path: Path) -> Clinvk:
    return Clinvk(tmp_path)


def with_fake_backend(clinvk: Clinvk, tmp_path: Path, session_id: str) -> Clinvk:
    """A backend named `fake` (tests/fakes/fakecli.py) that logs each call to clinvk.log."""
    clinvk.log = tmp_path / "fake.log"
    clinvk.add_fake_backend("fake", FAKE_SESSION_ID=session_id, FAKE_LOG=str(clinvk.log))
    return clinvk


def fake_calls(clinvk: Clinvk) -> list[dict]:
    """What the fake backend was called with: argv, cwd, piped stdin (one entry a call)."""
    return [json.loads(line) for line in clinvk.log.read_text().splitlines()]


def assert_clean_error(result: Result, code: int, *needles: str) -> None:
    """One `clinvk: error:` line, the expected exit code, no traceback."""
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err, result.err
    errors = [line for line in result.err.splitlines() if line.startswith("clinvk: error:")]
    assert len(errors) == 1, result.err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])


NPM_PACKAGES = ("@anthropic-ai/claude-code@2.1.330", "@openai/codex@0.169.0",
                "@google/gemini-cli@0.61.0")


def _npm_install(prefix: Path, packages: tuple[str, ...]) -> None:
    import shutil

    if os.environ.get("CLINVK_TEST_NO_INSTALL") or not shutil.which("npm"):
        return  # the end-to-end tests skip with the reason (fail under CI=true)
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                    "--loglevel=error", *packages], check=False, timeout=600)


def pytest_sessionstart(session) -> None:
    """Make the real backend CLIs available: $CLINVK_TEST_NPM_BIN, PATH, or an npm install
    into ~/.cache/clinvk-test-npm, and claude 2.1.197 ($CLINVK_TEST_CLAUDE_ALT_BIN, or an
    npm install into ~/.cache/clinvk-test-npm-197); CLINVK_TEST_NO_INSTALL=1 skips installs."""
    import realcli

    if not realcli.find_claude_alt():
        _npm_install(realcli.claude_alt_prefix(),
                     (f"@anthropic-ai/claude-code@{realcli.CLAUDE_ALT_VERSION}",))
    if all(realcli.find_cli(n) for n in ("claude", "codex", "gemini")):
        return
    prefix = Path(os.environ.get("CLINVK_TEST_NPM_DIR")
                  or Path.home() / ".cache" / "clinvk-test-npm")
    bin_dir = prefix / "node_modules" / ".bin"
    if not all((bin_dir / n).exists() for n in ("claude", "codex", "gemini")):
        _npm_install(prefix, NPM_PACKAGES)
    if bin_dir.is_dir():
        os.environ["CLINVK_TEST_NPM_BIN"] = str(bin_dir)


def pytest_sessionfinish(session, exitstatus) -> None:
    """codex's TUI may leave its shared app-server daemon running; stop the ones that this
    test session started (their HOME is under this session's own temporary folder), and
    nothing of another pytest session running at the same time."""
    import signal

    proc = Path("/proc")
    factory = getattr(session.config, "_tmp_path_factory", None)
    if not proc.is_dir() or factory is None:
        return
    try:
        base = os.fsencode(str(factory.getbasetemp())) + b"/"
    except (OSError, ValueError):
        return
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:2]
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        program = b" ".join(os.path.basename(a) for a in argv)
        if b"codex" in program and b"clinvk" not in program and base in environ:
            try:
                os.kill(int(entry.name), signal.SIGTERM)
            except OSError:
                pass

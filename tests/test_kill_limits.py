"""Waiting and killing have limits (issue 9, item 4): a timeout or Ctrl-C leaves nothing of
the backend's process group behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FAKES

STUBBORN = FAKES / "stubborn_grandchild.sh"


def _gone(pid: int) -> bool:
    """Dead, or a zombie waiting for its new parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def _settled(pid: int) -> bool:
    """Whether pid is gone, given a moment for a SIGKILL already sent to land."""
    for _ in range(100):
        if _gone(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def stubborn(clinvk, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    clinvk.config("backends:\n  fake:\n    adapter: claude\n"
                  f"    command: {STUBBORN}\n    env:\n      FAKE_PIDFILE: {str(pidfile)!r}\n")
    clinvk.pidfile = pidfile
    yield clinvk
    if pidfile.exists():  # never leave the sleeper behind, whatever the test found
        try:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


@pytest.mark.parametrize("mode", ["exit", "hang"])
def test_timeout_kills_a_grandchild_that_ignores_signals(stubborn, mode):
    result = stubborn.run("--timeout", "1", "-b", "fake", "go", env={"FAKE_MODE": mode})
    assert result.code == 124, result.err
    assert _settled(int(stubborn.pidfile.read_text())), "the grandchild survived --timeout"


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)


@pytest.mark.parametrize("mode", ["exit", "hang"])
def test_ctrl_c_kills_a_grandchild_that_ignores_signals(stubborn, mode):
    proc = subprocess.Popen(
        [sys.executable, "-m", "clinvk", "-b", "fake", "go"], cwd=stubborn.cwd,
        env={**stubborn.env, "FAKE_MODE": mode}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    _wait_for(stubborn.home / "sessions", proc)  # the init line was read: the turn runs
    while not list((stubborn.home / "sessions").rglob("*.json")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert _settled(int(stubborn.pidfile.read_text())), "the grandchild survived Ctrl-C"


def test_a_stopped_interactive_session_leaves_no_grandchild(stubborn):
    """SIGTERM to clinvk in front of an interactive backend (a closed terminal, say)."""
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "clinvk", "-b", "fake"], cwd=str(stubborn.cwd),
                          env={**stubborn.env, "FAKE_MODE": "exit", "TERM": "xterm"},
                          encoding="utf-8", timeout=30)
    child.expect_exact('"init"')  # the backend runs, its grandchild too
    child.kill(signal.SIGTERM)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert _settled(int(stubborn.pidfile.read_text())), "the grandchild survived"

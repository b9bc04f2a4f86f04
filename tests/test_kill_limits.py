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
from conftest import FAKE_CLI, FAKES, assert_clean_error
from lockholder import LockHolder, has_children, wait_until, waits_for_lock

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


# --- the store lock: a bounded, interruptible wait (item 4a) ------------------------------

HOLDER = r"""
import sys, time
from pathlib import Path
from clinvk.store import SessionStore
with SessionStore(Path(sys.argv[1])).lock():
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold_lock(home: Path, seconds: float = 600) -> subprocess.Popen:
    """Another process holding the store's lock (for `seconds`)."""
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(home), str(seconds)],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": root})
    assert proc.stdout.readline() == "locked\n"
    return proc


@pytest.fixture
def locked(clinvk):
    """A fake backend, and a clinvk holding the store's lock stopped (Ctrl-Z)."""
    clinvk.config(f"backends:\n  fake:\n    adapter: claude\n    command: {FAKE_CLI}\n"
                  "session:\n  lock_timeout_seconds: 1\n")
    clinvk.holder = _hold_lock(clinvk.home)
    os.kill(clinvk.holder.pid, signal.SIGSTOP)
    yield clinvk
    clinvk.holder.kill()
    clinvk.holder.wait()


def test_a_stopped_lock_holder_is_named_after_the_wait(locked):
    result = locked.run("-b", "fake", "hi")
    assert "héllo wörld" in result.out  # the turn ran; its output was shown
    assert_clean_error(result, 1, f"locked by pid {locked.holder.pid}", "waited 1 s",
                       "session.lock_timeout_seconds", "the turn was NOT recorded")
    result = locked.run("sessions", "tag", "0000", "x")  # any writer, not only a turn
    assert_clean_error(result, 1, f"locked by pid {locked.holder.pid}")
    os.kill(locked.holder.pid, signal.SIGCONT)
    locked.holder.kill()
    locked.holder.wait()
    assert locked.run("-b", "fake", "again").code == 0  # the store works again at once
    assert [s["turn_count"] for s in locked.sessions()] == [1]


def test_ctrl_c_ends_the_wait_for_the_lock(locked, tmp_path):
    started = tmp_path / "backend-started.log"
    locked.config(f"backends:\n  fake:\n    adapter: claude\n    command: {FAKE_CLI}\n"
                  f"    env:\n      FAKE_LOG: {str(started)!r}\n"
                  "session:\n  lock_timeout_seconds: 600\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "clinvk", "-b", "fake", "go"], cwd=locked.cwd, env=locked.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    _wait_for(started, proc)  # the turn runs; it is about to wait for the store
    for _ in range(120):  # Ctrl-C until clinvk ends (the first may come before the wait)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            continue
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "clinvk: error: interrupted" in err, err
    # the second Ctrl-C gave up the finished turn's wait: said so, with the backend's id
    assert "the turn was NOT recorded (the backend's session id is " in err, err


def test_a_turn_is_recorded_when_the_lock_frees_within_the_wait(clinvk):
    clinvk.config(f"backends:\n  fake:\n    adapter: claude\n    command: {FAKE_CLI}\n")
    holder = _hold_lock(clinvk.home, seconds=2)
    result = clinvk.run("-b", "fake", "hi")
    holder.wait()
    assert result.code == 0, result.err
    [session] = clinvk.sessions()
    assert session["turn_count"] == 1 and session["backend_session_id"]


def test_store_lock_wait_is_bounded_and_names_the_holder(tmp_path):
    from clinvk.store import SessionStore
    from clinvk.store.lock import StoreLocked

    holder = _hold_lock(tmp_path / "home")
    try:
        store = SessionStore(tmp_path / "home")
        for wait in (0, 0.3):
            store.lock_timeout = wait
            with pytest.raises(StoreLocked, match=f"locked by pid {holder.pid} "), store.lock():
                pass
        with store.lock(blocking=False) as acquired:
            assert acquired is False
    finally:
        holder.kill()
        holder.wait()
    with store.lock():  # free again: taken at once, and our pid is the one written
        assert (tmp_path / "home" / "store.lock").read_text() == f"{os.getpid()}\n"


def test_ctrl_c_interrupts_the_wait_whatever_handler_is_installed(tmp_path):
    """The runner only records SIGINT while a backend runs; the store's wait must still end."""
    import threading

    from clinvk.store import SessionStore

    seen: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, _frame: seen.append(signum))
    holder = _hold_lock(tmp_path / "home")
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    try:
        store = SessionStore(tmp_path / "home")
        store.lock_timeout = 600
        timer.start()
        with pytest.raises(KeyboardInterrupt), store.lock():
            pass
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # restored
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, old)
        holder.kill()
        holder.wait()


def test_an_alarm_already_set_survives_the_wait(tmp_path):
    from clinvk.store import SessionStore
    from clinvk.store.lock import StoreLocked

    fired: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda signum, _frame: fired.append(signum))
    signal.setitimer(signal.ITIMER_REAL, 500)
    holder = _hold_lock(tmp_path / "home")
    try:
        store = SessionStore(tmp_path / "home")
        store.lock_timeout = 0.2
        with pytest.raises(StoreLocked), store.lock():
            pass
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 500 and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        holder.kill()
        holder.wait()


# --- a turn whose backend ran is never lost to the lock (review findings 1 and 7) ---------


def _start(clinvk, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "clinvk", *args], cwd=clinvk.cwd, env={**clinvk.env, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def _slow_fake(clinvk, steps: int = 100) -> None:
    clinvk.config(f"backends:\n  fake:\n    adapter: claude\n    command: {FAKE_CLI}\n"
                  f"    env:\n      FAKE_MODE: slow\n      FAKE_STEPS: '{steps}'\n"
                  "session:\n  lock_timeout_seconds: 600\n")


def test_ctrl_c_while_the_backend_id_waits_for_the_store_keeps_the_turn(clinvk):
    """Ctrl-C lands while the backend's first line waits (≤ 1 s) for a busy store: the
    backend is stopped, and once the lock frees the session is kept as interrupted."""
    _slow_fake(clinvk)
    holder = LockHolder(clinvk.home)
    try:
        proc = _start(clinvk, "-b", "fake", "go")
        wait_until(lambda: waits_for_lock(proc.pid) and has_children(proc.pid), proc,
                   "waited for the lock while the backend ran")
        proc.send_signal(signal.SIGINT)
        # the backend stops; the turn then waits for the lock to be recorded
        wait_until(lambda: waits_for_lock(proc.pid) and not has_children(proc.pid), proc,
                   "waited for the lock with the turn")
    finally:
        holder.release()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "clinvk: error: fake: interrupted" in err, err
    [session] = clinvk.sessions()
    assert session["status"] == "interrupted" and session["turn_count"] == 1
    assert session["backend_session_id"] and session["model"] == "fake-model"
    assert session["turns"][0]["exit_code"] == 130


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_ctrl_c_while_a_finished_turn_waits_for_the_store_keeps_it(clinvk, sig):
    """After the backend ended, the first Ctrl-C (or SIGTERM, or SIGHUP: a closed terminal)
    during the wait is held back: the turn is recorded (as interrupted) when the lock frees,
    and clinvk exits 130 (TERM and HUP killed clinvk there, and the turn was lost)."""
    clinvk.config(f"backends:\n  fake:\n    adapter: claude\n    command: {FAKE_CLI}\n"
                  "session:\n  lock_timeout_seconds: 600\n")
    holder = LockHolder(clinvk.home)
    try:
        proc = _start(clinvk, "-b", "fake", "go")
        wait_until(lambda: waits_for_lock(proc.pid) and not has_children(proc.pid), proc,
                   "waited for the lock with the turn")
        proc.send_signal(sig)
        notice = proc.stderr.readline()  # the handler ran; clinvk still waits
        assert "recorded as interrupted once the session store is free" in notice, notice
        assert proc.poll() is None
    finally:
        holder.release()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "héllo wörld" in out and "Traceback" not in err
    [session] = clinvk.sessions()
    assert session["status"] == "interrupted" and session["turn_count"] == 1
    assert session["turns"][0]["exit_code"] == 130 and session["backend_session_id"]


def test_a_new_backend_id_is_kept_when_the_store_was_busy(clinvk):
    """A resumed session whose backend answers with a new id while the store is busy: the
    id is written with the turn."""
    clinvk.config(f"backends:\n  fake:\n    adapter: claude\n    command: {FAKE_CLI}\n"
                  "session:\n  lock_timeout_seconds: 600\n")
    assert clinvk.run("-b", "fake", "one", env={"FAKE_SESSION_ID": "first-id"}).code == 0
    holder = LockHolder(clinvk.home)
    try:
        proc = _start(clinvk, "-c", "two", FAKE_SESSION_ID="second-id")
        wait_until(lambda: waits_for_lock(proc.pid) and not has_children(proc.pid), proc,
                   "waited for the lock with the turn")
    finally:
        holder.release()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    [session] = clinvk.sessions()
    assert session["turn_count"] == 2 and session["backend_session_id"] == "second-id"


def test_a_lock_timeout_of_zero_is_refused(clinvk):
    clinvk.config(f"backends:\n  fake:\n    adapter: claude\n    command: {FAKE_CLI}\n"
                  "session:\n  lock_timeout_seconds: 0\n")
    assert_clean_error(clinvk.run("-b", "fake", "hi"), 2, "session.lock_timeout_seconds")

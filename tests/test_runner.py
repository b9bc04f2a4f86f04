"""The pty runner: line splitting, timeouts, interrupts, exit codes (no backend involved)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinvk.pty.runner import LineSplitter, run_lines


# text a backend can print: any character but a line end or a lone surrogate (not UTF-8)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n\r",
                                               blacklist_categories=("Cs",))), max_size=20),
       st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=10))
def test_splitter_reassembles_lines_split_anywhere(lines, cuts):
    data = "".join(line + "\r\n" for line in lines).encode()
    splitter, out, pos, i = LineSplitter(), [], 0, 0
    while pos < len(data):  # chunks of varying size, cutting multi-byte characters too
        size = cuts[i % len(cuts)]
        out += splitter.feed(data[pos : pos + size])
        pos, i = pos + size, i + 1
    out += splitter.flush()
    assert out == lines


def test_splitter_bounds_a_line_without_newline():
    splitter = LineSplitter(max_line=1000)
    pieces = splitter.feed(b"x" * 2500)
    assert pieces and all(len(p) <= 2500 for p in pieces)
    assert "".join(pieces + splitter.flush()) == "x" * 2500


def _run(code: str, **kw):
    lines: list[str] = []
    result = run_lines([sys.executable, "-c", code], cwd=os.getcwd(), env=os.environ,
                       on_line=lines.append, **kw)
    return result, lines


def test_exit_code_and_lines_through_pty():
    result, lines = _run("import sys; print('one'); print('twö'); sys.exit(5)")
    assert lines == ["one", "twö"]
    assert result.exit_code == 5 and not result.timed_out and not result.interrupted


def test_long_line_of_hundreds_of_kb():
    result, lines = _run("print('a' * 500_000); print('end')")
    assert lines == ["a" * 500_000, "end"]
    assert result.exit_code == 0


def test_timeout_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "grandchild.pid"
    code = ("import subprocess, sys, time\n"
            f"p = subprocess.Popen(['sleep', '60']); open({str(marker)!r}, 'w').write(str(p.pid))\n"
            "print('started', flush=True); time.sleep(60)")
    started = time.monotonic()
    result, lines = _run(code, timeout=1.5)
    assert result.timed_out and lines == ["started"]
    assert time.monotonic() - started < 10
    grandchild = int(marker.read_text())
    time.sleep(0.2)
    try:
        os.kill(grandchild, 0)
        with open(f"/proc/{grandchild}/stat") as fh:
            alive = fh.read().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        alive = False
    assert not alive, "the backend's child survived the timeout"


def test_sigint_is_forwarded_and_the_child_may_finish():
    code = ("import signal, sys, time\n"
            "def h(*a):\n    print('got sigint, finishing', flush=True); sys.exit(42)\n"
            "signal.signal(signal.SIGINT, h)\nprint('ready', flush=True)\ntime.sleep(30)")
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    result, lines = _run(code)
    assert result.interrupted
    assert lines == ["ready", "got sigint, finishing"]
    assert result.exit_code == 42


def test_child_ignoring_sigint_is_killed_after_grace():
    code = ("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "print('ready', flush=True)\ntime.sleep(60)")
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    result, _ = _run(code, grace=0.5)
    assert result.interrupted and result.signal == signal.SIGKILL
    assert time.monotonic() - started < 10


QUIET_THEN_RESULT = os.path.join(os.path.dirname(__file__), "fakes", "quiet_then_result.sh")


def _race_runs(monkeypatch, runs: int) -> list:
    """Run the quiet-then-result fake `runs` times; the runs that lost a line.
    The poll interval is made tiny so that a poll times out right before the child's
    last write and exit far more often than with the real interval (the race widened,
    not changed)."""
    import clinvk.pty.runner as runner

    monkeypatch.setattr(runner, "POLL", 0.0005)
    lost = []
    for i in range(runs):
        lines: list[str] = []
        result = run_lines([QUIET_THEN_RESULT, "0.002"], cwd=os.getcwd(), env=os.environ,
                           on_line=lines.append)
        assert result.exit_code == 0
        if len(lines) != 2 or '"result"' not in lines[-1]:
            lost.append((i, lines, result))  # the lines seen say which end was lost
    return lost


def test_last_line_is_read_after_the_child_exits(monkeypatch):
    assert _race_runs(monkeypatch, 200) == []


@pytest.mark.slow
def test_last_line_is_read_after_the_child_exits_thousands_of_times(monkeypatch):
    assert _race_runs(monkeypatch, 2000) == []


def _wait_for(path, what: str) -> None:
    """Wait (bounded, as a guard against a hang, not a timing check) for a file to appear."""
    for _ in range(3000):
        if path.exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what} never appeared")


def test_prepare_runs_once_the_child_has_output_before_its_first_line(tmp_path):
    # The child prints, then waits for prepare's go before its second line and its exit:
    # prepare must be called while the child runs, and before the first line is handed on.
    go = tmp_path / "go"
    code = ("import os, sys, time\n"
            "print('first', flush=True)\n"
            f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
            "print('second')\n")
    calls: list[str] = []

    def prepare() -> None:
        calls.append("prepared")
        go.touch()

    result = run_lines([sys.executable, "-c", code], cwd=os.getcwd(), env=os.environ,
                       on_line=calls.append, prepare=prepare, timeout=60)
    assert calls == ["prepared", "first", "second"]
    assert result.exit_code == 0 and not result.timed_out


@pytest.mark.parametrize("code, timeout", [("pass", None), ("import time; time.sleep(30)", 0.5)])
def test_prepare_runs_once_at_the_end_of_a_run_without_output(code, timeout):
    """A child that prints nothing (it exits, or it is timed out): prepare still comes, once."""
    calls: list[str] = []
    result = run_lines([sys.executable, "-c", code], cwd=os.getcwd(), env=os.environ,
                       on_line=calls.append, prepare=lambda: calls.append("prepared"),
                       timeout=timeout)
    assert calls == ["prepared"]
    assert result.timed_out == (timeout is not None)


def test_prepare_failing_kills_the_child_and_raises(tmp_path):
    pid_file = tmp_path / "pid"
    code = (f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
            "print('up', flush=True)\ntime.sleep(120)\n")

    def prepare() -> None:
        _wait_for(pid_file, "the child's pid")
        raise OSError("the store cannot be opened")

    try:
        run_lines([sys.executable, "-c", code], cwd=os.getcwd(), env=os.environ,
                  on_line=lambda line: None, prepare=prepare)
    except OSError as exc:
        assert "cannot be opened" in str(exc)
        # checked while the traceback (and so the runner's spawn object) is still alive:
        # the runner itself killed and reaped the child, not a garbage collection later
        assert not _exists(int(pid_file.read_text()))
    else:
        raise AssertionError("prepare's error was swallowed")


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

"""clinvk.pty.process: clinvk's own fork/exec of a program in a pty (the steps of
ptyprocess's spawn, done before pexpect or ptyprocess is imported), seen from the child."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys

import pytest

from clinvk.pty.fork import SpawnError, find_executable
from clinvk.pty.process import spawn
from clinvk.pty.runner import run_lines

REPORT = r"""
import json, os, sys, termios
fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
attrs = termios.tcgetattr(1)
print(json.dumps({"fds": fds, "size": list(os.get_terminal_size(1)), "cwd": os.getcwd(),
                  "env": dict(os.environ), "echo": bool(attrs[3] & termios.ECHO),
                  "tty": os.isatty(1), "sid": os.getsid(0) == os.getpid(),
                  "stdin": sys.stdin.read() if not os.isatty(0) else None}))
"""


def _child_view(tmp_path, **options) -> dict:
    lines: list[str] = []
    leak = os.open(os.devnull, os.O_RDONLY)  # an inheritable descriptor of the parent
    os.set_inheritable(leak, True)
    try:
        result = run_lines([sys.executable, "-c", REPORT], cwd=str(tmp_path),
                           env={"PATH": os.environ["PATH"], "ONLY": "this"}, on_line=lines.append,
                           **options)
    finally:
        os.close(leak)
    assert result.exit_code == 0, lines
    return json.loads(next(line for line in lines if line.startswith("{")))


def test_the_child_sees_a_pty_of_its_own_and_nothing_of_the_parent(tmp_path):
    seen = _child_view(tmp_path)
    assert seen["tty"] and seen["sid"]  # its own session, the pty its terminal
    assert seen["fds"][:3] == [0, 1, 2] and len(seen["fds"]) <= 4  # + the listing's own fd
    assert seen["cwd"] == str(tmp_path)
    assert {k: v for k, v in seen["env"].items() if k in ("ONLY", "PATH")} == {
        "ONLY": "this", "PATH": os.environ["PATH"]}
    assert "HOME" not in seen["env"]  # exactly the environment given
    assert seen["echo"] is False  # a headless run echoes nothing back
    assert seen["size"][0] > 0 and seen["stdin"] is None


def test_the_signals_python_ignores_are_not_ignored_by_the_child(tmp_path):
    """Python ignores SIGPIPE and SIGXFSZ; a backend started from a shell does not."""
    import signal

    lines: list[str] = []
    run_lines(["/bin/sh", "-c", 'grep SigIgn: "/proc/$$/status"'], cwd=str(tmp_path),
              env={"PATH": os.environ["PATH"]}, on_line=lines.append)
    ignored = int(next(line for line in lines if line.startswith("SigIgn:")).split()[1], 16)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (sig - 1)), sig


def test_a_long_prompt_reaches_stdin_from_a_file_that_is_gone_after(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = "x" * 300_000 + "\nend"
    seen = _child_view(tmp_path, stdin=data.encode())
    assert seen["stdin"] == data
    assert not list(tmp_path.glob("clinvk-stdin-*"))


def test_size_and_echo_as_asked(tmp_path):
    child = spawn([sys.executable, "-c", "import os; print(os.get_terminal_size(1))"],
                  cwd=str(tmp_path), env=dict(os.environ), dimensions=(33, 111), echo=True)
    out = b""
    while True:
        try:
            chunk = os.read(child.fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    child.wait()
    child.close()
    assert b"columns=111, lines=33" in out
    assert child.exitstatus == 0


@pytest.mark.parametrize("make, code", [
    (lambda p: p.write_text("not a program"), errno.EACCES),  # not executable
    (lambda p: (p.write_bytes(b"\x7fELF garbage"), p.chmod(0o755)), errno.ENOEXEC),
    (lambda p: None, errno.ENOENT),
])
def test_an_exec_that_fails_is_raised_in_the_parent_and_leaves_no_child(tmp_path, make, code):
    program = tmp_path / "prog"
    make(program)
    with pytest.raises(SpawnError) as caught:
        spawn([str(program)], cwd=str(tmp_path), env=dict(os.environ), dimensions=(24, 80))
    assert (caught.value.errno, caught.value.step, caught.value.filename) == (code, "exec", str(program))
    assert _zombie_children() == []  # the failed child was reaped


def _zombie_children() -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == os.getpid():
                found.append(int(entry))
    return found


def test_a_missing_directory_is_raised_too(tmp_path):
    with pytest.raises(SpawnError) as caught:
        spawn(["/bin/true"], cwd=str(tmp_path / "gone"), env=dict(os.environ), dimensions=(24, 80))
    assert (caught.value.errno, caught.value.step) == (errno.ENOENT, "chdir")
    assert caught.value.filename == str(tmp_path / "gone")


@pytest.mark.parametrize("interactive", [False, True])
def test_a_backend_that_cannot_be_run_is_a_clear_error_and_records_nothing(clinvk, tmp_path,
                                                                           interactive):
    """An executable that is no program (a broken install): exit 3, one line naming it."""
    from cli_harness import run_cli
    from conftest import assert_clean_error

    broken = tmp_path / "broken-claude"
    broken.write_bytes(b"\x7fELF not really")
    broken.chmod(0o755)
    clinvk.config(f"backends:\n  fake:\n    adapter: claude\n    command: {broken}\n")
    if interactive:  # no prompt, stdin and stdout terminals: the backend's own interface
        result = run_cli(["-b", "fake"], environ=clinvk.env, cwd=clinvk.cwd, stdin_isatty=True,
                         stdout_isatty=True)
    else:
        result = clinvk.run("-b", "fake", "hi")
    assert_clean_error(result, 3, f"cannot run {broken}", "Exec format error", "reinstall")
    assert clinvk.sessions() == []


def test_find_executable_agrees_with_shutil_which(tmp_path):
    import shutil

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "tool").write_text("#!/bin/sh\n")  # not executable: skipped
    (tmp_path / "b" / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "b" / "tool").chmod(0o755)
    (tmp_path / "b" / "dir").mkdir(mode=0o755)
    path = os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "a")])
    for name in ("tool", "dir", "missing", str(tmp_path / "b" / "tool"), str(tmp_path / "a" / "tool")):
        assert find_executable(name, path) == shutil.which(name, path=path), name
    assert find_executable("tool", "") is None


def test_find_executable_gives_an_absolute_path(tmp_path, monkeypatch):
    """The exec happens in the turn's working directory: a relative PATH entry or command
    must not be looked up again there."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "tool").chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert find_executable("tool", "bin") == str(tmp_path / "bin" / "tool")
    assert find_executable("./bin/tool", None) == str(tmp_path / "bin" / "tool")


def test_what_a_failed_start_means_to_the_user(clinvk, tmp_path):
    """A missing or broken program: exit 3 (reinstall); a directory that cannot be entered:
    exit 2; any other failure (too long an argument list, no memory): exit 1."""
    import errno as e

    from clinvk.app import App
    from clinvk.env import Environment
    from clinvk.pty.fork import SpawnError
    from clinvk.turn_plan import TurnPlan, TurnSpec

    app = App(Environment(environ={**clinvk.env}, cwd=str(clinvk.cwd)))
    plan = TurnPlan(app, TurnSpec(prompt="hi", backend="claude", ephemeral=True))
    cases = {(e.ENOEXEC, "exec"): 3, (e.EACCES, "exec"): 3, (e.ENOENT, "chdir"): 2,
             (e.E2BIG, "exec"): 1, (e.ENOMEM, "exec"): 1, (0, "setup"): 1}
    for (number, step), code in cases.items():
        error = plan.not_runnable(SpawnError(number, os.strerror(number), "/x/claude", step))
        assert error.exit_code == code, (number, step, error.message)
        assert "/x/claude" in error.message


# -- the running child (clinvk.pty.process.Child) ---------------------------------------------

def _spawned(tmp_path, code: str):
    return spawn([sys.executable, "-c", code], cwd=str(tmp_path), env=dict(os.environ),
                 dimensions=(24, 80), echo=False)


def test_a_child_reports_how_it_ended(tmp_path):
    exited = _spawned(tmp_path, "import sys; sys.exit(7)")
    assert exited.wait() == 7 and exited.signalstatus is None and not exited.isalive()
    exited.close()
    killed = _spawned(tmp_path, "import time; time.sleep(60)")
    assert killed.isalive()
    killed.kill(signal.SIGKILL)
    assert killed.wait() is None and killed.signalstatus == signal.SIGKILL
    killed.kill(signal.SIGKILL)  # reaped: its pid is not signalled again (it may be reused)
    killed.close()
    assert killed.fd == -1


def test_closing_a_child_that_ignores_hup_and_int_kills_it(tmp_path):
    code = ("import signal, time\n"
            "for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM): signal.signal(s, signal.SIG_IGN)\n"
            "print('ready', flush=True)\ntime.sleep(60)\n")
    child = _spawned(tmp_path, code)
    assert os.read(child.fd, 100).startswith(b"ready")
    child.close(force=True)
    assert not child.isalive() and child.signalstatus == signal.SIGKILL


def test_a_child_s_exit_status_is_kept_when_clinvk_was_started_with_sigchld_ignored(tmp_path):
    """SIGCHLD ignored (inherited across exec from whoever started clinvk) would have the
    kernel reap the backend, and a failure would pass for a success: it is reset first."""
    code = ("import os, signal, sys\n"
            "signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
            "from clinvk.pty.runner import run_lines\n"
            "r = run_lines(['/bin/sh', '-c', 'exit 5'], cwd=os.getcwd(), env=os.environ,"
            " on_line=lambda line: None)\n"
            "print(r.exit_code, r.signal)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["5", "None"]

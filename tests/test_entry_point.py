"""The real `clinvk` process, one smoke test per command family (most CLI tests run the same
entry point in this process: tests/cli_harness.py); in-process runs see what a process
sees, and leave nothing behind in this process."""

from __future__ import annotations

import os
import signal
import sys
import threading

import click
import pytest
from cli_harness import SIGNALS, MockEnvironment
from conftest import assert_clean_error, with_fake_backend

SID = "22222222-3333-4444-5555-666666666666"


@pytest.fixture
def fake(clinvk, tmp_path):
    return with_fake_backend(clinvk, tmp_path, SID)


# -- the real process: run, resume, sessions, config, backends, help -------------------------

def test_run_and_resume_through_the_real_process(fake):
    first = fake.run_process("-b", "fake", "say", "hi")
    assert first.code == 0, first.err
    assert first.out == "héllo wörld\n"
    again = fake.run_process("resume", "--last", "again", stdin="piped\n")
    assert again.code == 0, again.err
    [session] = fake.sessions()
    assert session["turn_count"] == 2 and session["backend_session_id"] == SID
    # main() leaves with os._exit once the index is closed: no sqlite journal left behind
    assert not [p.name for p in fake.home.iterdir() if p.name.endswith(("-wal", "-shm"))]
    failed = fake.run_process("-b", "fake", "go", env={"FAKE_MODE": "exit", "FAKE_EXIT": "7"})
    assert_clean_error(failed, 1, "something went wrong")


def test_sessions_through_the_real_process(fake):
    assert fake.run("-b", "fake", "first").code == 0
    [session] = fake.sessions()
    listed = fake.run_process("sessions", "list", "--json")
    assert listed.code == 0 and [r["id"] for r in listed.json()] == [session["id"]]
    shown = fake.run_process("sessions", "show", session["id"][:6], "--json")
    assert shown.code == 0 and shown.json() == session
    tagged = fake.run_process("sessions", "tag", session["id"][:6], "smoke")
    assert tagged.code == 0, tagged.err
    assert fake.sessions()[0]["tags"] == ["smoke"]
    assert_clean_error(fake.run_process("sessions", "show", "beef"), 2, "no session matches")
    deleted = fake.run_process("sessions", "delete", "-y", session["id"])
    assert deleted.code == 0 and fake.sessions() == []


def test_config_backends_help_and_version_through_the_real_process(fake):
    shown = fake.run_process("config", "show", "--json")
    assert shown.code == 0 and "settings" in shown.json()
    path = fake.run_process("config", "path")
    assert path.out.strip() == str(fake.home / "config.yaml")
    backends = fake.run_process("backends", "--json")
    assert backends.code == 0
    assert {row["name"]: row["version"] for row in backends.json()}["fake"] == "9.9.9 (fake)"
    helped = fake.run_process("--help")
    assert helped.code == 0 and "sessions" in helped.out
    version = fake.run_process("--version")
    assert version.code == 0 and version.out.startswith("clinvk ")
    assert_clean_error(fake.run_process("--here", "hi"), 2, "--here")


@pytest.mark.parametrize("argv", [["--dry-run", "-b", "fake", "hi"], ["sessions", "list"],
                                  ["-o", "json", "-b", "fake", "hi"]])
def test_a_reader_that_goes_away_ends_both_entries_alike(fake, argv):
    """`clinvk ... | head -c0`: the plain run form (read without Click) and Click's commands
    exit 0 without a traceback; the turn is recorded all the same."""
    import subprocess

    assert fake.run("-b", "fake", "first").code == 0  # something for `sessions list` to print
    proc = subprocess.Popen([sys.executable, "-m", "clinvk", *argv], cwd=fake.cwd, env=fake.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "error" not in err, err
    if "-o" in argv:
        assert len(fake.sessions()) == 2


# -- in process: what a process sees ---------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["--help"], ["--version"], ["sessions", "--help"], ["config", "show"], ["config", "path"],
    ["sessions", "list", "--json"], ["sessions", "show", "beef"], ["sessions", "list", "--bogus"],
    ["-b", "nosuch", "hi"], ["--dry-run", "-b", "fake", "it's", "\x1b[2J"], ["resume", "--last"],
])
def test_in_process_and_real_process_say_the_same(fake, argv):
    fake.config(fake.home.joinpath("config.yaml").read_text() + "colour: blue\n")  # a warning
    assert fake.run(*argv) == fake.run_process(*argv)


def test_piped_stdin_as_text_and_as_bytes(fake):
    as_text = fake.run("--dry-run", "-b", "fake", "review", stdin="line ü\n")
    as_bytes = fake.run("--dry-run", "-b", "fake", "review", stdin="line ü\n".encode())
    assert as_text.code == 0 and as_text == as_bytes == fake.run_process(
        "--dry-run", "-b", "fake", "review", stdin="line ü\n")
    assert as_text.out_bytes == as_text.out.encode()


def _children() -> list[str]:
    """This process's children, zombies included (a child never waited for)."""
    return sorted(pid for task in os.listdir("/proc/self/task")
                  for pid in open(f"/proc/self/task/{task}/children").read().split())


def _process_snapshot() -> dict:
    return {"environ": dict(os.environ), "cwd": os.getcwd(),
            "streams": (sys.stdin, sys.stdout, sys.stderr),
            "handlers": {sig: signal.getsignal(sig) for sig in SIGNALS},
            "mask": signal.pthread_sigmask(signal.SIG_BLOCK, []),
            "fds": sorted(os.listdir("/proc/self/fd")), "threads": threading.active_count(),
            "click context": click.get_current_context(silent=True), "children": _children()}


def test_in_process_calls_leave_this_process_as_they_found_it(fake):
    before = _process_snapshot()
    assert fake.run("-b", "fake", "say", "hi").code == 0
    assert fake.run("-c", "again", env={"FAKE_MODE": "crash"}).code == 1
    assert fake.run("--timeout", "1", "-b", "fake", "go", env={"FAKE_MODE": "hang"}).code == 124
    assert fake.run("backends").code == 0
    assert fake.run("sessions", "list", "--bogus").code == 2
    assert fake.run("--help").code == 0
    assert _process_snapshot() == before


def test_the_entry_point_itself_leaves_no_handler_and_no_descriptor(fake, monkeypatch):
    """clinvk.launch.run_cli without the harness around it: what clinvk itself puts back."""
    from clinvk.launch import run_cli

    monkeypatch.chdir(fake.cwd)
    before = _process_snapshot()
    env = MockEnvironment(environ=fake.env, cwd=fake.cwd)
    assert run_cli(["-b", "fake", "say", "hi"], env) == 0, env.err_bytes
    env = MockEnvironment(environ={**fake.env, "FAKE_MODE": "hang"}, cwd=fake.cwd)
    assert run_cli(["--timeout", "1", "-b", "fake", "go"], env) == 124
    env = MockEnvironment(environ=fake.env, cwd=fake.cwd)
    assert run_cli(["sessions", "list", "--json"], env) == 0
    assert env.out_bytes.count(b'"id"') == 2
    assert _process_snapshot() == before


def test_in_process_calls_are_independent(fake):
    fake.config(fake.home.joinpath("config.yaml").read_text() + "colour: blue\n")
    with_env = fake.run("config", "show", "--json", env={"CLINVK_BACKEND": "gemini"})
    without = fake.run("config", "show", "--json")
    assert with_env.json()["settings"]["default_backend"]["value"] == "gemini"
    assert without.json()["settings"]["default_backend"]["source"] != "env CLINVK_BACKEND"
    assert "unknown key 'colour'" in with_env.err and without.err == with_env.err  # each call warns
    assert fake.run("-b", "fake", "one").code == 0
    os.environ["CLINVK_BACKEND"] = "nosuch"  # the test's variables never reach a call
    try:
        assert fake.run("-c", "two").code == 0
    finally:
        del os.environ["CLINVK_BACKEND"]
    assert [s["turn_count"] for s in fake.sessions()] == [2]


def test_help_does_not_depend_on_the_calls_before(fake):
    # Click keeps the first help option made on a command: the root help must not make run's
    for argv in (["--help"], ["-m", "x", "-h"], ["--help"], ["resume", "-h"], ["-m", "x", "-h"]):
        assert fake.run(*argv) == fake.run_process(*argv), argv


def test_ctrl_c_before_the_command_is_guarded_is_one_line_and_130(monkeypatch, capsys):
    """A Ctrl-C in the first few ms (while clinvk imports its modules) printed a traceback."""
    import clinvk.launch as launch

    def early(*_args):
        raise KeyboardInterrupt

    codes: list[int] = []
    monkeypatch.setattr(launch, "_dispatch", early)
    monkeypatch.setattr(launch.os, "_exit", codes.append)
    launch.main(["hi"])
    assert codes == [130] and capsys.readouterr().err == "clinvk: error: interrupted\n"

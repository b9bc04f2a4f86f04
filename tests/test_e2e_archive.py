"""End to end: clinvk's transcript archive on the real claude, codex and gemini, against the
stand-in API. A session's backend store file is deleted (by hand, and for claude by claude's
own clean-up), and `clinvk resume ID` still carries the conversation: the stand-in sees the
earlier prompt in the request of the next turn."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import realcli
from clinvk.backends import get_adapter
from standin import StandIn
from test_e2e_move import NAMES, World

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def standin():
    with StandIn() as server:
        yield server


def backend_files(world: World, name: str, record: dict) -> list[Path]:
    adapter = get_adapter(name)
    return adapter.session_files(record["backend_session_id"], record["working_dir"], world.env)


def first_session(world: World, name: str, prompt: str) -> tuple[dict, list[Path]]:
    result, _ = world.turn(name, "-b", name, "-o", "json", prompt)
    record = world.sessions()[result.json()["session_id"]]
    files = backend_files(world, name, record)
    assert files, f"{name} wrote no store file"
    assert record["archive"] and record["archive"]["bytes"] > 0, record["archive"]
    archived = list((world.clinvk_home / "archive" / record["id"]).rglob("*.gz"))
    assert len(archived) == len(files)
    return record, files


def carries(requests: list[list[str]], needle: str) -> bool:
    return any(needle in text for text in requests[-1])


@pytest.mark.parametrize("name", NAMES)
def test_resume_after_the_backend_file_was_deleted(name, standin, tmp_path):
    world = World((name,), standin, tmp_path)
    record, files = first_session(world, name, "first question MARK:kept")
    contents = {path: path.read_bytes() for path in files}
    for path in files:
        path.unlink()
    assert not backend_files(world, name, record)

    shown = world.run("sessions", "show", record["id"], "--transcript")
    assert shown.code == 0, shown.err
    assert "first question MARK:kept" in shown.out
    found = world.run("sessions", "search", "--transcripts", "MARK:kept", "--json")
    assert found.code == 0 and record["id"] in [h["id"] for h in found.json()], found.err
    exported = world.run("sessions", "export", record["id"])
    assert exported.code == 0, exported.err
    bundle = json.loads(exported.out)
    assert bundle["sessions"][0]["transcript"]["files"], exported.err
    assert "MARK:kept" in json.dumps(bundle["sessions"][0]["transcript"])

    _, requests = world.turn(name, "resume", record["id"], "second question MARK:after")
    assert carries(requests, "first question MARK:kept"), requests[-1]
    for path, data in contents.items():  # put back where the backend looks, then appended to
        assert path.read_bytes().startswith(data[: len(data) // 2])
    after = world.sessions()[record["id"]]
    assert after["turn_count"] == 2
    assert after["archive"]["sha256"] != record["archive"]["sha256"]  # refreshed by the turn


@pytest.mark.parametrize("name", NAMES)
def test_fork_and_hand_over_after_the_backend_file_was_deleted(name, standin, tmp_path):
    other = {"claude": "codex", "codex": "gemini", "gemini": "claude"}[name]
    world = World((name, other), standin, tmp_path)
    record, files = first_session(world, name, "first question MARK:branch")
    for path in files:
        path.unlink()
    _, requests = world.turn(name, "resume", record["id"], "--fork", "fork turn MARK:fork")
    assert carries(requests, "first question MARK:branch"), requests[-1]
    for path in backend_files(world, name, record):
        path.unlink()
    _, requests = world.turn(other, "resume", record["id"], "--to", other, "hand MARK:to")
    assert carries(requests, "first question MARK:branch"), requests[-1]


def test_claude_own_clean_up_then_resume(standin, tmp_path):
    """claude deletes transcripts older than `cleanupPeriodDays` in its background
    housekeeping: 5 s after the first prompt of a process is submitted (a timer that does not
    keep the process alive: the turn must last longer; the stand-in's delay does that),
    unless `~/.claude/.last-cleanup` is younger than a day (claude 2.1.330)."""
    world = World(("claude",), standin, tmp_path)
    record, files = first_session(world, "claude", "first question MARK:aged")
    old = time.time() - 5 * 86400
    for path in files:
        os.utime(path, (old, old))
    settings = world.home / ".claude" / "settings.json"
    conf = json.loads(settings.read_text())
    conf["cleanupPeriodDays"] = 1
    settings.write_text(json.dumps(conf))
    stamp = world.home / ".claude" / ".last-cleanup"
    if stamp.exists():
        os.utime(stamp, (old, old))

    standin.set_delay(7)
    try:
        done = subprocess.run(realcli.headless_argv("claude", "unrelated MARK:other"),
                              cwd=world.project, env=world.env, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
    finally:
        standin.set_delay(0)
    assert done.returncode == 0, done.stderr
    assert not any(path.exists() for path in files), "claude did not clean up the aged file"

    _, requests = world.turn("claude", "resume", record["id"], "second question MARK:back")
    assert carries(requests, "first question MARK:aged"), requests[-1]
    assert all(path.exists() for path in files)


def test_gemini_own_clean_up_then_resume(standin, tmp_path):
    """gemini deletes, at the start of any run in the project, the chats whose
    `lastUpdated` is older than `general.sessionRetention.maxAge` (30 days by default); the
    archived copy, as old as the chat, is put back and resumed (gemini 0.61: the session
    it resumes is not cleaned up)."""
    import re

    from clinvk import archive
    from clinvk.app import App
    from clinvk.env import Environment

    world = World(("gemini",), standin, tmp_path)
    record, [chat] = first_session(world, "gemini", "first question MARK:old-chat")
    old = "2026-09-01T00:00:00.000Z"
    chat.write_text(re.sub(r'"(lastUpdated|startTime)":"[^"]*"', rf'"\1":"{old}"',
                           chat.read_text()))
    aged = time.time() - 90 * 86400
    os.utime(chat, (aged, aged))
    app = App(Environment(environ=world.env, cwd=str(world.project)))
    value = archive.refresh(app, app.store.get(record["id"]))  # the copy of the last use
    assert value is not None
    app.store.update(record["id"], lambda r: r.update(archive=value))

    done = subprocess.run(realcli.headless_argv("gemini", "unrelated MARK:other"),
                          cwd=world.project, env=world.env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert not chat.exists(), "gemini did not clean up the aged chat"

    _, requests = world.turn("gemini", "resume", record["id"], "second question MARK:back")
    assert carries(requests, "first question MARK:old-chat"), requests[-1]
    assert chat.exists()

"""The transcript archive (clinvk.archive): a gzip copy of each session's backend store files
under $CLINVK_HOME/archive/, refreshed after turns, read and restored when the backend's file
is gone, removed with the session. The backend here is the fake claude (tests/fakes/fakecli.py)
with a real claude store file (tests/samples/stores) planted where claude keeps it."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from clinvk.backends.claude_store import project_dir_name
from conftest import FAKE_CLI, Clinvk, assert_clean_error
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.timeout(120)

SAMPLES = Path(__file__).parent / "samples" / "stores"
SID = "8b9a0c36-b6a5-42b0-a483-53e93009ce30"  # the session of the claude sample


@pytest.fixture
def world(clinvk: Clinvk, tmp_path: Path):
    """clinvk with the fake claude backend and claude's store file of SID in place."""
    conf = tmp_path / "claude-conf"
    clinvk.env["CLAUDE_CONFIG_DIR"] = str(conf)
    folder = conf / "projects" / project_dir_name(str(clinvk.cwd))
    folder.mkdir(parents=True)
    transcript = folder / f"{SID}.jsonl"
    transcript.write_bytes((SAMPLES / "claude-projects-transcript.jsonl").read_bytes())
    configure(clinvk)
    return clinvk, transcript


def configure(clinvk: Clinvk, extra: str = "") -> None:
    clinvk.config(f"backends:\n  fake:\n    adapter: claude\n    command: {FAKE_CLI}\n"
                  f"    env:\n      FAKE_SESSION_ID: {SID}\n{extra}")


def first_turn(clinvk: Clinvk, *args: str) -> dict:
    result = clinvk.run("-b", "fake", "-o", "json", *args, "hello")
    assert result.code == 0, result.err
    return result.json()


def record_of(clinvk: Clinvk, sid: str) -> dict:
    result = clinvk.run("sessions", "show", sid, "--json")
    assert result.code == 0, result.err
    return result.json()


def archived_files(clinvk: Clinvk, sid: str) -> list[Path]:
    return sorted(p for p in (clinvk.home / "archive" / sid).rglob("*") if p.is_file())


def test_a_turn_archives_the_transcript_privately(world) -> None:
    clinvk, transcript = world
    sid = first_turn(clinvk)["session_id"]
    files = archived_files(clinvk, sid)
    rel = transcript.relative_to(transcript.parents[2]).as_posix()
    assert [p.relative_to(clinvk.home / "archive" / sid).as_posix() for p in files] == [rel + ".gz"]
    assert gzip.decompress(files[0].read_bytes()) == transcript.read_bytes()
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    for folder in [clinvk.home / "archive", *files[0].relative_to(clinvk.home).parents]:
        if folder != Path("."):
            path = folder if folder.is_absolute() else clinvk.home / folder
            if path != clinvk.home:
                assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    archive = record_of(clinvk, sid)["archive"]
    assert archive["bytes"] == files[0].stat().st_size
    data = transcript.read_bytes()
    assert archive["sha256"] == hashlib.sha256(rel.encode() + b"\0" + data + b"\0").hexdigest()
    assert archive["bytes"] < 0.4 * len(data)  # gzip level 1: about a third (33 % here)
    shown = clinvk.run("sessions", "show", sid)
    assert "archive -" not in shown.out and "archive " in shown.out, shown.out
    disk = clinvk.run("sessions", "stats", "--disk", "--json")
    assert disk.json()["sessions"][0]["archive_bytes"] == archive["bytes"], disk.out


def test_an_unchanged_transcript_is_not_written_again(world) -> None:
    clinvk, transcript = world
    sid = first_turn(clinvk)["session_id"]
    gz = archived_files(clinvk, sid)[0]
    before = (gz.stat().st_ino, gz.stat().st_mtime_ns, record_of(clinvk, sid)["archive"])
    assert clinvk.run("resume", sid, "again").code == 0
    assert (gz.stat().st_ino, gz.stat().st_mtime_ns, record_of(clinvk, sid)["archive"]) == before
    with transcript.open("ab") as fh:
        fh.write(b'{"type":"summary","summary":"more"}\n')
    assert clinvk.run("resume", sid, "once more").code == 0
    after = record_of(clinvk, sid)["archive"]
    assert after["sha256"] != before[2]["sha256"]
    assert gzip.decompress(archived_files(clinvk, sid)[0].read_bytes()) == transcript.read_bytes()


def test_a_line_added_after_the_result_is_archived_too(world) -> None:
    """The archive is staged when the backend says the turn is done, and brought up to date
    at its exit: a backend that adds to its transcript in between (claude's cost-state line)
    has the whole of it archived."""
    clinvk, transcript = world
    clinvk.env["FAKE_APPEND_AFTER_RESULT"] = str(transcript)
    sid = first_turn(clinvk)["session_id"]
    data = transcript.read_bytes()
    assert data.endswith(b'"cost-state", "sessionId": "' + SID.encode() + b'"}\n')
    assert gzip.decompress(archived_files(clinvk, sid)[0].read_bytes()) == data
    assert record_of(clinvk, sid)["archive"]["bytes"] == archived_files(clinvk, sid)[0].stat().st_size


def test_a_stage_reuses_an_earlier_one_for_what_did_not_change(tmp_path: Path) -> None:
    from clinvk.archive import stage

    data = (SAMPLES / "claude-projects-transcript.jsonl").read_bytes()
    record = {"id": "11111111-2222-3333-4444-555555555555", "archive": None}
    early = stage(tmp_path, record, [("a.jsonl", data[:80000]), ("b.jsonl", b"b\n")])
    late = stage(tmp_path, record, [("a.jsonl", data[:80500]), ("b.jsonl", b"b\n")], early)
    (_, packed_a), (_, packed_b) = late.writes
    assert packed_a.startswith(early.copies["a.jsonl"][1])  # grown: the tail as one more member
    assert gzip.decompress(packed_a) == data[:80500]
    assert packed_b is early.copies["b.jsonl"][1]  # unchanged: the same copy
    other = stage(tmp_path, record, [("a.jsonl", b"rewritten\n"), ("b.jsonl", b"b\n")], early)
    assert gzip.decompress(other.writes[0][1]) == b"rewritten\n"
    assert late.value["sha256"] != early.value["sha256"]
    assert late.value["bytes"] == len(packed_a) + len(packed_b)


def test_a_gone_transcript_is_read_from_the_archive_and_restored(world) -> None:
    clinvk, transcript = world
    original = transcript.read_bytes()
    sid = first_turn(clinvk)["session_id"]
    transcript.unlink()
    shown = clinvk.run("sessions", "show", sid, "--transcript")
    assert shown.code == 0, shown.err
    assert "first prompt" in shown.out
    found = clinvk.run("sessions", "search", "--transcripts", "first prompt", "--json")
    assert found.code == 0 and [h["id"] for h in found.json()] == [sid], found.err
    again = clinvk.run("sessions", "search", "--transcripts", "first prompt", "--json")
    assert [h["id"] for h in again.json()] == [sid]  # through the transcript cache
    import sqlite3

    with sqlite3.connect(clinvk.home / "transcripts.sqlite3") as db:
        (sig,) = db.execute("SELECT sig FROM docs WHERE sid = ?", (sid,)).fetchone()
    assert str(clinvk.home / "archive" / sid) in sig  # cached under the archive's own file
    bundle = clinvk.run("sessions", "export", sid)
    assert bundle.code == 0, bundle.err
    files = json.loads(bundle.out)["sessions"][0]["transcript"]["files"]
    assert files[0]["content"].encode() == original
    assert not transcript.exists()  # reading never writes the backend's store
    assert clinvk.run("resume", sid, "next").code == 0
    assert transcript.read_bytes() == original


def test_export_then_import_archives_the_imported_copy(world, tmp_path) -> None:
    clinvk, transcript = world
    sid = first_turn(clinvk)["session_id"]
    bundle = tmp_path / "bundle.json"
    assert clinvk.run("sessions", "export", sid, "-o", str(bundle)).code == 0
    other = tmp_path / "elsewhere"
    other.mkdir()
    done = clinvk.run("sessions", "import", str(bundle), "--new-id", "--workdir", str(other),
                      "--json")
    assert done.code == 0, done.err
    new = done.json()[0]["id"]
    assert new != sid
    archive = record_of(clinvk, new)["archive"]
    files = archived_files(clinvk, new)
    assert archive and len(files) == 1 and archive["bytes"] == files[0].stat().st_size
    assert project_dir_name(str(other)) in files[0].as_posix()


@pytest.mark.parametrize("extra, args", [
    ("archive:\n  enabled: false\n", ()),
    ("session:\n  store_prompts: false\n", ()),
    ("", ("--ephemeral",)),
])
def test_nothing_is_archived_when_turned_off(world, extra, args) -> None:
    clinvk, _ = world
    configure(clinvk, extra)
    out = first_turn(clinvk, *args)
    assert not (clinvk.home / "archive").exists() or not any((clinvk.home / "archive").iterdir())
    if out["session_id"]:
        assert record_of(clinvk, out["session_id"])["archive"] is None


def test_delete_and_clean_remove_the_archive(world) -> None:
    clinvk, _ = world
    sid = first_turn(clinvk)["session_id"]
    assert archived_files(clinvk, sid)
    assert clinvk.run("sessions", "delete", sid, "--yes").code == 0
    assert not (clinvk.home / "archive" / sid).exists()
    sid = first_turn(clinvk)["session_id"]
    assert archived_files(clinvk, sid)
    from clinvk.store import SessionStore

    SessionStore(clinvk.home).update(sid, lambda r: r.update(last_used="2020-01-01T00:00:00Z"))
    done = clinvk.run("sessions", "clean", "--older-than", "1d")
    assert done.code == 0, done.err
    assert not (clinvk.home / "archive" / sid).exists()


def test_a_damaged_archive_is_a_clear_message(world) -> None:
    clinvk, transcript = world
    sid = first_turn(clinvk)["session_id"]
    gz = archived_files(clinvk, sid)[0]
    gz.write_bytes(b"\x1f\x8b not gzip at all")
    transcript.unlink()
    shown = clinvk.run("sessions", "show", sid, "--transcript")
    assert_clean_error(shown, 1, "archived copy", "cannot be read")
    resumed = clinvk.run("resume", sid, "next")
    assert "Traceback" not in resumed.err
    assert "clinvk: warning:" in resumed.err and "cannot restore" in resumed.err
    assert not transcript.exists()


def test_restore_never_overwrites_and_api_round_trip(world) -> None:
    from clinvk import archive
    from clinvk.app import App
    from clinvk.env import Environment

    clinvk, transcript = world
    sid = first_turn(clinvk)["session_id"]
    env = Environment(environ={**os.environ, **clinvk.env}, cwd=str(clinvk.cwd))
    app = App(env)
    record = app.store.get(sid)
    assert archive.restore(app, record) == []  # the file is there: nothing written
    assert archive.refresh(app, record) is None  # unchanged
    transcript.write_bytes(b"changed\n")
    assert archive.restore(app, record) == []
    assert transcript.read_bytes() == b"changed\n"
    moved = transcript.parent.parent / "-elsewhere" / transcript.name
    moved.parent.mkdir()
    transcript.rename(moved)  # the backend still has the session, under another name
    assert archive.restore(app, record) == []
    assert not transcript.exists()
    moved.unlink()
    assert archive.restore(app, record) == [transcript]
    assert transcript.read_bytes() == (SAMPLES / "claude-projects-transcript.jsonl").read_bytes()


# --- `clinvk backends`: the backends' own retention against session.retention_days ----------


def backends_warnings(clinvk: Clinvk, retention: int) -> list[str]:
    """The retention warnings of `clinvk backends`, with the three CLIs installed (stubs)."""
    stubs = clinvk.cwd / "bin"
    if not stubs.exists():
        stubs.mkdir()
        for name in ("claude", "codex", "gemini"):
            (stubs / name).write_text("#!/bin/sh\necho 1.0.0\n")
            (stubs / name).chmod(0o755)
        clinvk.env["PATH"] = f"{stubs}:{clinvk.env['PATH']}"
    clinvk.config(f"session:\n  retention_days: {retention}\n")
    result = clinvk.run("backends")
    assert result.code == 0, result.err
    return [line for line in result.err.splitlines() if "deletes its own transcripts" in line]


def settings_file(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_backends_warns_when_a_backend_forgets_sooner(clinvk: Clinvk) -> None:
    assert backends_warnings(clinvk, 30) == []  # both default to 30 days
    warned = backends_warnings(clinvk, 90)
    assert len(warned) == 2, warned
    claude, gemini = sorted(warned)
    assert claude.startswith("clinvk: warning: claude ") and "cleanupPeriodDays (default 30" in claude
    assert gemini.startswith("clinvk: warning: gemini ") and "general.sessionRetention" in gemini
    assert len(backends_warnings(clinvk, 0)) == 2  # 0: clinvk keeps sessions forever
    assert not any("codex" in line for line in backends_warnings(clinvk, 0))
    (clinvk.cwd / "bin" / "gemini").unlink()  # a backend not installed is not warned about
    assert [w for w in backends_warnings(clinvk, 90) if "gemini" in w] == []


def test_backends_reads_the_backends_own_settings(clinvk: Clinvk, tmp_path: Path) -> None:
    conf = tmp_path / "claude-conf"
    clinvk.env["CLAUDE_CONFIG_DIR"] = str(conf)
    settings_file(conf / "settings.json", {"cleanupPeriodDays": 7})
    gemini = clinvk.user_home / ".gemini" / "settings.json"
    settings_file(gemini, {"general": {"sessionRetention": {"enabled": True, "maxAge": "12w"}}})
    warned = backends_warnings(clinvk, 30)
    assert len(warned) == 1 and "cleanupPeriodDays: 7 in " + str(conf) in warned[0], warned
    warned = backends_warnings(clinvk, 90)
    assert any("84 day(s)" in w and "maxAge: '12w'" in w for w in warned), warned
    settings_file(conf / "settings.json", {"cleanupPeriodDays": 3650})
    settings_file(gemini, {"general": {"sessionRetention": {"enabled": False}}})
    warned = backends_warnings(clinvk, 0)  # forever: even ten years is sooner
    assert len(warned) == 1 and "claude" in warned[0] and "3650" in warned[0], warned
    assert backends_warnings(clinvk, 3000) == []
    settings_file(gemini, {"general": {"sessionRetention": {"maxAge": "4m"}}})
    assert backends_warnings(clinvk, 90) == []
    assert len(backends_warnings(clinvk, 365)) == 1


# --- the gzip copy itself (clinvk.archive.pack) --------------------------------------------


def test_a_grown_transcript_adds_a_member_and_reads_back_whole() -> None:
    from clinvk.archive import pack

    data = (SAMPLES / "claude-projects-transcript.jsonl").read_bytes()
    first = pack(None, data[:60000])
    assert gzip.decompress(first) == data[:60000]
    assert pack(first, data[:60000]) is first  # unchanged: the same copy, nothing to write
    grown = pack(first, data[:90000])
    assert grown.startswith(first) and gzip.decompress(grown) == data[:90000]
    doubled = pack(grown, data[:130000])  # twice what was compressed whole: compressed again
    assert not doubled.startswith(first) and gzip.decompress(doubled) == data[:130000]
    rewritten = pack(grown, b"something else\n" + data[:70000])
    assert gzip.decompress(rewritten) == b"something else\n" + data[:70000]
    assert gzip.decompress(pack(b"\x1f\x8bdamaged", data[:1000])) == data[:1000]


# --- interactive runs (the fake TUIs of tests/fakes/fake_tui.py) ---------------------------


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_an_interactive_run_is_archived_and_restored(tmp_path: Path, backend: str) -> None:
    from clinvk.backends import get_adapter
    from test_interactive import Term, finish, one_session, say

    term = Term(tmp_path)
    record = one_session(term, backend)
    adapter = get_adapter(backend)
    environ = {**os.environ, **term.env}
    [original] = adapter.session_files(record["backend_session_id"], record["working_dir"], environ)
    [copy] = sorted((term.clinvk_home / "archive" / record["id"]).rglob("*.gz"))
    assert gzip.decompress(copy.read_bytes()) == original.read_bytes()
    assert record["archive"]["bytes"] == copy.stat().st_size
    data = original.read_bytes()
    original.unlink()
    child = term.spawn("resume", record["id"])
    say(child, "second")
    assert finish(child) == 0
    assert original.read_bytes().startswith(data)
    [after] = term.sessions()
    assert [t["prompt"] for t in after["turns"]] == ["first", "second"]
    assert gzip.decompress(copy.read_bytes()) == original.read_bytes()


def test_a_dry_run_restores_nothing_and_export_warns_on_a_damaged_copy(world) -> None:
    clinvk, transcript = world
    sid = first_turn(clinvk)["session_id"]
    transcript.unlink()
    assert clinvk.run("resume", sid, "--dry-run", "next").code == 0
    assert not transcript.exists()
    archived_files(clinvk, sid)[0].write_bytes(b"not gzip")
    bundle = clinvk.run("sessions", "export", sid)
    assert bundle.code == 0 and "Traceback" not in bundle.err
    assert "cannot be read" in bundle.err and "no fake transcript found" in bundle.err
    assert json.loads(bundle.out)["sessions"][0]["transcript"] is None


# -- the lighter sha256 and gzip (no OpenSSL, no gzip module while a backend runs) ---------

@given(st.binary(max_size=5000), st.binary(max_size=3000))
@settings(max_examples=200, deadline=None)
def test_the_built_in_sha256_and_zlib_gzip_match_hashlib_and_gzip(first: bytes, second: bytes) -> None:
    from clinvk.archive import gzip_member
    from clinvk.hashing import sha256

    assert sha256(first).hexdigest() == hashlib.sha256(first).hexdigest()
    h = sha256()
    h.update(first)
    h.update(second)
    assert h.hexdigest() == hashlib.sha256(first + second).hexdigest()
    packed = gzip_member(first)
    assert packed[:2] == b"\x1f\x8b" and gzip.decompress(packed) == first
    assert gzip.decompress(packed + gzip_member(second)) == first + second


def test_a_turn_imports_neither_hashlib_nor_gzip(tmp_path: Path) -> None:
    """The session's folder key and the archive's digest and copy, made as a turn makes them,
    load neither OpenSSL (hashlib) nor the gzip module."""
    import subprocess
    import sys

    code = ("import sys\nfrom clinvk.store.files import dirkey\nfrom clinvk.archive import "
            "digest, pack\ndirkey('/w')\ndigest([('a', b'x')])\npack(None, b'x' * 100)\n"
            "print(sorted(m for m in ('hashlib', '_hashlib', 'gzip') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout

"""`clinvk sessions stats --disk` and the disk figures of `sessions show`: a session's
record, archive and backend files, in bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Clinvk, assert_clean_error

from clinvk.store import SessionStore
from clinvk.store import session as s

pytestmark = pytest.mark.timeout(120)

CLAUDE_SID = "8b9a0c36-b6a5-42b0-a483-53e93009ce30"
CODEX_SID = "01a20592-dc3e-72b0-bd0f-2803fb0461c4"
WORKDIR = "/home/user/proj"


def _store(clinvk: Clinvk, backend: str, sid: str, title: str, **fields) -> str:
    record = s.new_session(backend, WORKDIR, backend_session_id=sid, title=title)
    record.update(fields)
    return SessionStore(clinvk.home).create(record)["id"]


def _record_size(clinvk: Clinvk, session_id: str) -> int:
    return os.stat(SessionStore(clinvk.home).path_of(session_id)).st_size


@pytest.fixture
def planted(clinvk: Clinvk, tmp_path: Path):
    """A claude session whose transcript (1,000 bytes) is planted where claude keeps it,
    and a codex session whose rollout is gone."""
    clinvk.env["CLAUDE_CONFIG_DIR"] = str(tmp_path / "claude-conf")
    clinvk.env["CODEX_HOME"] = str(tmp_path / "codex-home")
    folder = tmp_path / "claude-conf" / "projects" / "-home-user-proj"
    folder.mkdir(parents=True)
    transcript = folder / f"{CLAUDE_SID}.jsonl"
    transcript.write_bytes(b"x" * 999 + b"\n")
    cid = _store(clinvk, "claude", CLAUDE_SID, "claude one")
    xid = _store(clinvk, "codex", CODEX_SID, "codex one")
    return clinvk, cid, xid, transcript


def test_stats_disk_json_counts_record_archive_and_backend_files(planted) -> None:
    clinvk, cid, xid, _transcript = planted
    result = clinvk.run("sessions", "stats", "--disk", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert set(data) == {"sessions", "total"}
    rows = {row["id"]: row for row in data["sessions"]}
    assert set(rows) == {cid, xid}
    for row in data["sessions"]:
        assert set(row) == {"id", "record_bytes", "archive_bytes", "backend_bytes", "total_bytes"}
        assert row["record_bytes"] == _record_size(clinvk, row["id"])
        assert row["archive_bytes"] == 0  # no archive is built yet
        assert row["total_bytes"] == row["record_bytes"] + row["archive_bytes"] + row["backend_bytes"]
    assert rows[cid]["backend_bytes"] == 1000
    assert rows[xid]["backend_bytes"] == 0  # the rollout is gone
    assert [row["id"] for row in data["sessions"]] == [cid, xid]  # largest first
    for key in ("record_bytes", "archive_bytes", "backend_bytes", "total_bytes"):
        assert data["total"][key] == sum(row[key] for row in data["sessions"])


def test_a_gone_transcript_counts_zero(planted) -> None:
    clinvk, cid, _xid, transcript = planted
    transcript.unlink()
    result = clinvk.run("sessions", "stats", "--disk", cid, "--json")
    assert result.code == 0, result.err
    assert result.json()["total"] == {
        "record_bytes": _record_size(clinvk, cid), "archive_bytes": 0, "backend_bytes": 0,
        "total_bytes": _record_size(clinvk, cid)}


def test_archive_bytes_come_from_the_record(planted) -> None:
    clinvk, _cid, _xid, _transcript = planted
    archive = {"bytes": 5000, "sha256": "0" * 64, "at": "2026-11-22T23:10:00Z"}
    aid = _store(clinvk, "codex", "11111111-2222-3333-4444-555555555555", "archived", archive=archive)
    data = clinvk.run("sessions", "stats", "--disk", "--json").json()
    row = next(r for r in data["sessions"] if r["id"] == aid)
    assert row["archive_bytes"] == 5000
    assert row["total_bytes"] == 5000 + _record_size(clinvk, aid)
    assert data["total"]["archive_bytes"] == 5000
    text = clinvk.run("sessions", "show", aid).out
    assert "disk:" in text and "archive 5.0 kB" in text


def test_filters_narrow_the_table(planted) -> None:
    clinvk, cid, xid, _transcript = planted
    data = clinvk.run("sessions", "stats", "--disk", "--json", "-b", "codex").json()
    assert [row["id"] for row in data["sessions"]] == [xid]
    assert data["total"]["backend_bytes"] == 0
    data = clinvk.run("sessions", "stats", "--disk", "--json", "--search", "claude").json()
    assert [row["id"] for row in data["sessions"]] == [cid]
    assert data["total"]["backend_bytes"] == 1000


def test_stats_disk_text_table(planted) -> None:
    clinvk, cid, xid, _transcript = planted
    result = clinvk.run("sessions", "stats", "--disk")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["ID", "BACKEND", "RECORD", "ARCHIVE", "BACKEND", "FILES",
                                "TOTAL", "TITLE"]
    assert lines[1].startswith(cid[:8]) and "1.0 kB" in lines[1] and "claude one" in lines[1]
    assert lines[2].startswith(xid[:8]) and " - " in lines[2]  # no archive: "-"
    assert lines[3].startswith("total") and "2 sessions" in lines[3]


def test_show_has_a_disk_line(planted) -> None:
    clinvk, cid, _xid, _transcript = planted
    result = clinvk.run("sessions", "show", cid[:6])
    assert result.code == 0, result.err
    line = next(x for x in result.out.splitlines() if x.startswith("disk:"))
    assert "archive -" in line and "backend files 1.0 kB" in line


def test_disk_of_one_session_by_id(planted) -> None:
    clinvk, cid, xid, _transcript = planted
    data = clinvk.run("sessions", "stats", "--disk", cid[:6], "--json").json()
    assert [s["id"] for s in data["sessions"]] == [cid]
    assert data["sessions"][0]["backend_bytes"] == 1000
    assert data["total"] == {k: v for k, v in data["sessions"][0].items() if k != "id"}
    text = clinvk.run("sessions", "stats", "--disk", cid[:6]).out
    assert cid[:8] in text and xid[:8] not in text and "1 session" in text


def test_show_json_stays_the_record(planted) -> None:
    clinvk, cid, _xid, _transcript = planted
    shown = clinvk.run("sessions", "show", cid[:6], "--json").json()
    assert "disk" not in shown and shown["id"] == cid


def test_disk_with_by_is_refused(planted) -> None:
    clinvk, _cid, _xid, _transcript = planted
    assert_clean_error(clinvk.run("sessions", "stats", "--disk", "--by", "backend"), 2, "--disk")


def test_empty_store(clinvk: Clinvk) -> None:
    data = clinvk.run("sessions", "stats", "--disk", "--json").json()
    assert data == {"sessions": [], "total": {"record_bytes": 0, "archive_bytes": 0,
                                              "backend_bytes": 0, "total_bytes": 0}}


def test_a_shared_file_counts_once_per_session(tmp_path: Path, monkeypatch) -> None:
    """A backend file two sessions share (as gemini's can be) counts once in each of them,
    even when the backend names it twice for one session."""
    from clinvk import disk
    from clinvk.transcripts import access

    shared = tmp_path / "chat.jsonl"
    shared.write_bytes(b"y" * 300)
    monkeypatch.setattr(access, "transcript_files", lambda app, record, *_a, **_k: (None, [shared, shared]))
    record_file = tmp_path / "record.json"
    record_file.write_bytes(b"{}")
    found = [disk.session_disk(None, {"id": i * 32, "backend": "gemini", "backend_session_id": i},
                               record_file) for i in "ab"]
    assert [d.backend_bytes for d in found] == [300, 300]
    assert [d.total_bytes for d in found] == [302, 302] and not found[0].archived

"""The derived index: rebuilt when missing, stale or damaged; never the source of truth."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from clinvk.errors import SessionNotFound
from clinvk.paths import index_path
from clinvk.store import SessionStore, dirkey, read_session_file
from clinvk.store import session as S

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
OLD = time.time() - 3600


def fill(home: Path, n: int = 12, dirs: int = 3) -> list[dict]:
    store = SessionStore(home)
    recs = [store.create(S.new_session("claude", f"/w/{i % dirs}", title=f"s{i}",
                                       now=T0 + timedelta(minutes=i))) for i in range(n)]
    store.close()
    return recs


def age(home: Path) -> None:
    """Make every file and folder look old, so none is 'racily' recent."""
    for dirpath, _dirs, files in os.walk(home / "sessions"):
        for name in files:
            os.utime(os.path.join(dirpath, name), (OLD, OLD))
        os.utime(dirpath, (OLD, OLD))


def ids(rows: list[dict]) -> list[str]:
    return [r["id"] for r in rows]


def newest_first(recs: list[dict]) -> list[str]:
    return ids(sorted(recs, key=lambda r: r["last_used"], reverse=True))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def fresh(home: Path, warnings: list[str] | None = None) -> SessionStore:
    return SessionStore(home, (warnings if warnings is not None else []).append)


def test_index_created_and_used(home: Path) -> None:
    recs = fill(home)
    assert index_path(home).exists()
    assert ids(fresh(home).list()) == newest_first(recs)


def test_unchanged_folders_are_not_reread(home: Path) -> None:
    recs = fill(home, 30, 5)
    age(home)
    index_path(home).unlink()
    reads: list[Path] = []

    def counting(path: Path):
        reads.append(path)
        return read_session_file(path)

    store = fresh(home)
    store._idx().reader = counting
    assert ids(store.list()) == newest_first(recs) and len(reads) == 30
    store = fresh(home)
    store._idx().reader = counting
    reads.clear()
    assert len(store.list(limit=5)) == 5 and reads == []
    new = S.new_session("codex", "/w/0", now=T0 + timedelta(days=1))
    folder = home / "sessions" / dirkey("/w/0")
    (folder / f"{new['id']}.json").write_text(json.dumps(new))
    store = fresh(home)
    store._idx().reader = counting
    assert store.list(limit=1)[0]["id"] == new["id"]
    assert [p.name for p in reads] == [f"{new['id']}.json"]


def test_files_added_by_hand(home: Path) -> None:
    recs = fill(home)
    store = fresh(home)
    store.list()
    extra = [S.new_session("gemini", "/w/1", now=T0 + timedelta(days=2)),
             S.new_session("gemini", "/brand/new", now=T0 + timedelta(days=3))]
    for rec in extra:
        folder = home / "sessions" / dirkey(rec["working_dir"])
        folder.mkdir(exist_ok=True)
        (folder / f"{rec['id']}.json").write_text(json.dumps(rec))
    assert ids(store.list()) == newest_first(recs + extra)
    assert store.get(extra[1]["id"][:8])["backend"] == "gemini"
    assert store.count(backend="gemini") == 2


def test_file_copied_from_another_home(home: Path, tmp_path: Path) -> None:
    fill(home)
    other = tmp_path / "other"
    theirs = fill(other, 2, 1)
    for rec in theirs:
        src = SessionStore(other).path_of(rec["id"])
        dst = home / "sessions" / src.parent.name
        dst.mkdir(exist_ok=True)
        shutil.copy2(src, dst / src.name)
    store = fresh(home)
    assert store.get(theirs[0]["id"]) == theirs[0]


def test_file_edited_in_place(home: Path) -> None:
    recs = fill(home)
    age(home)
    store = fresh(home)
    assert store.list()[0]["id"] == recs[-1]["id"]
    target = store.path_of(recs[0]["id"])
    data = json.loads(target.read_text())
    data["title"] = "edited by hand"
    data["last_used"] = "2030-01-01T00:00:00Z"
    dir_mtime = target.parent.stat().st_mtime_ns
    with open(target, "r+") as fh:  # in place: the folder's mtime does not move
        fh.write(json.dumps(data, indent=2))
        fh.truncate()
    assert target.parent.stat().st_mtime_ns == dir_mtime
    assert store.get(recs[0]["id"])["title"] == "edited by hand"
    store = fresh(home)
    first = store.list(limit=1)
    assert first[0]["id"] == recs[0]["id"] and first[0]["title"] == "edited by hand"
    assert ids(store.list(search="EDITED")) == [recs[0]["id"]]


def test_files_deleted_behind_its_back(home: Path) -> None:
    recs = fill(home)
    store = fresh(home)
    store.list()
    gone = recs[-1]
    store.path_of(gone["id"]).unlink()
    assert gone["id"] not in ids(store.list()) and store.count() == len(recs) - 1
    with pytest.raises(SessionNotFound):
        store.get(gone["id"])
    shutil.rmtree(home / "sessions" / dirkey("/w/1"))
    assert store.count() == len([r for r in recs[:-1] if r["working_dir"] != "/w/1"])
    assert store.list(working_dir="/w/1") == []


@pytest.mark.parametrize("damage", ["garbage", "truncate", "empty", "wrong_version", "no_tables"])
def test_damaged_index_is_rebuilt_silently(home: Path, damage: str) -> None:
    recs = fill(home)
    db = index_path(home)
    if damage == "garbage":
        db.write_bytes(os.urandom(8192))
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    elif damage == "truncate":
        with open(db, "r+b") as fh:
            fh.truncate(db.stat().st_size // 2)
    elif damage == "empty":
        db.write_bytes(b"")
    elif damage == "wrong_version":
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA user_version = 99")
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TABLE sessions")
    warnings: list[str] = []
    store = fresh(home, warnings)
    assert ids(store.list()) == newest_first(recs)
    assert store.get(recs[3]["id"][:6]) == recs[3]
    assert warnings == []


def test_index_deleted_is_rebuilt(home: Path) -> None:
    recs = fill(home)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index_path(home)}{suffix}").unlink(missing_ok=True)
    store = fresh(home)
    assert ids(store.list()) == newest_first(recs) and index_path(home).exists()


def test_unusable_index_falls_back_to_scanning(home: Path) -> None:
    recs = fill(home)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{index_path(home)}{suffix}").unlink(missing_ok=True)
    index_path(home).mkdir()  # cannot be opened as a database at all
    store = fresh(home)
    assert ids(store.list()) == newest_first(recs)
    rec = store.update(recs[0]["id"], lambda r: r.update(title="still works"))
    assert fresh(home).get(rec["id"])["title"] == "still works"
    assert store._idx().in_memory


def test_index_file_is_private(home: Path) -> None:
    old = os.umask(0)
    try:
        fill(home, 2, 1)
    finally:
        os.umask(old)
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{index_path(home)}{suffix}")
        if path.exists():
            assert path.stat().st_mode & 0o777 == 0o600, path


def test_old_temp_files_are_reaped_young_ones_kept(home: Path) -> None:
    fill(home, 2, 1)
    folder = home / "sessions" / dirkey("/w/0")
    old_tmp, young_tmp = folder / ".x.json.aaaa.tmp", folder / ".y.json.bbbb.tmp"
    old_tmp.write_text("{")
    young_tmp.write_text("{")
    os.utime(old_tmp, (OLD - 7200, OLD - 7200))
    os.utime(folder, (OLD, OLD))  # force a rescan of the folder
    warnings: list[str] = []
    assert len(fresh(home, warnings).list()) == 2 and warnings == []
    assert not old_tmp.exists() and young_tmp.exists()


def test_a_file_seen_half_copied_is_read_again_once_whole(home: Path) -> None:
    """`cp` into a store folder: a sync sees the file empty (skipped), the copy then fills it
    in place; the next sync reads it again (a rescan that looked at names and inodes only,
    not at the files' signatures, kept it hidden)."""
    fill(home, 2, 1)
    folder = home / "sessions" / dirkey("/w/0")
    rec = S.new_session("codex", "/w/0", title="copied in", now=T0 + timedelta(days=1))
    target = folder / f"{rec['id']}.json"
    target.write_text("")
    warnings: list[str] = []
    assert len(fresh(home, warnings).list()) == 2 and warnings
    with open(target, "w") as fh:  # filled in place: same inode
        fh.write(json.dumps(rec))
    got = fresh(home).list()
    assert [r["title"] for r in got][0] == "copied in" and len(got) == 3


def test_a_full_disk_keeps_the_index_file_and_goes_on_in_memory(home: Path) -> None:
    """`database or disk is full` from sqlite: the index (derived data) goes on in memory,
    its file is kept (it was deleted, and then the turn failed with an internal
    RuntimeError); what never works is a StoreError (exit 2 class), not an internal error."""
    recs = fill(home)
    store = fresh(home)
    idx = store._idx()
    calls: list[int] = []

    def full_once(db, *args):
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database or disk is full")
        return "done"

    assert idx._call(full_once) == "done" and idx.in_memory
    assert index_path(home).exists() and len(store.list()) == len(recs)

    def always_full(db, *args):
        raise sqlite3.OperationalError("database or disk is full")

    from clinvk.errors import StoreError

    with pytest.raises(StoreError, match="disk is full"):
        idx._call(always_full)

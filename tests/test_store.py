"""The session store on real files: API, layout, permissions, bad files, write failures."""

from __future__ import annotations

import errno
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clinvk.store.core as store_mod
from clinvk.errors import AmbiguousPrefix, ExitCode, SessionNotFound, StoreError, UsageError
from clinvk.store import SessionExists, SessionStore, dirkey
from clinvk.store import session as S
from clinvk.store.delete import delete

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def warnings() -> list[str]:
    return []


@pytest.fixture
def store(tmp_path: Path, warnings: list[str]) -> SessionStore:
    return SessionStore(tmp_path / "home", warnings.append)


def make(store: SessionStore, backend: str = "claude", wdir: str = "/w/one", *, minutes: int = 0,
         bsid: str | None = None, **kw) -> dict:
    rec = S.new_session(backend, wdir, backend_session_id=bsid, now=T0 + timedelta(minutes=minutes),
                        **kw)
    return store.create(rec)


def test_nothing_created_by_construction_or_reads(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = SessionStore(home)
    assert store.list() == [] and store.count() == 0 and store.latest_resumable() is None
    assert list(store.iter_records()) == []
    with pytest.raises(SessionNotFound):
        store.get("abcd")
    assert not delete(store, "abcd" * 8)
    assert not home.exists()


def test_create_get_update_delete(store: SessionStore) -> None:
    rec = make(store, title="first")
    path = store.path_of(rec["id"])
    assert path == store.root / dirkey("/w/one") / f"{rec['id']}.json"
    assert store.get(rec["id"][:4]) == rec
    assert store.resolve_id(rec["id"][:10].upper()) == rec["id"]
    with pytest.raises(SessionExists):
        store.create(dict(rec))

    def turn(r: dict) -> None:
        S.add_turn(r, prompt="hi", duration_ms=10, exit_code=0, usage={"input_tokens": 5},
                   at=T0 + timedelta(hours=1))

    updated = store.update(rec["id"], turn)
    assert updated["turn_count"] == 1 and store.get(rec["id"])["turn_count"] == 1
    assert store.update(rec["id"], lambda r: {**r, "title": "renamed"})["title"] == "renamed"
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and text.startswith('{\n  "schema_version": 2,')
    assert delete(store, rec["id"]) and not delete(store, rec["id"])
    with pytest.raises(SessionNotFound, match="no session matches"):
        store.get(rec["id"])


def test_update_moving_working_dir(store: SessionStore) -> None:
    rec = make(store)
    store.update(rec["id"], lambda r: r.update(working_dir="/w/two"))
    assert store.path_of(rec["id"]).parent.name == dirkey("/w/two")
    assert [r["id"] for r in store.list(working_dir="/w/two")] == [rec["id"]]
    assert store.list(working_dir="/w/one") == []


def test_update_refuses_invalid(store: SessionStore) -> None:
    rec = make(store)
    with pytest.raises(StoreError):
        store.update(rec["id"], lambda r: r.update(id="0" * 32))
    assert store.get(rec["id"]) == rec


def test_list_filters_and_order(store: SessionStore) -> None:
    a = make(store, "claude", "/w/one", minutes=1, bsid="c1", tags=["x", "y"])
    b = make(store, "codex", "/w/two", minutes=2, tags=["x"], metadata={"k": "v"})
    c = make(store, "gemini", "/w/one", minutes=3, bsid="g1", title="Zeta search me")
    ids = lambda rows: [r["id"] for r in rows]  # noqa: E731
    assert ids(store.list()) == [c["id"], b["id"], a["id"]]
    assert ids(store.list(reverse=True)) == [a["id"], b["id"], c["id"]]
    assert ids(store.list(limit=1, offset=1)) == [b["id"]]
    assert ids(store.list(backend="codex")) == [b["id"]]
    assert ids(store.list(working_dir="/w/one")) == [c["id"], a["id"]]
    assert ids(store.list(tags=["x", "y"])) == [a["id"]]
    assert ids(store.list(tags=["x"])) == [b["id"], a["id"]]
    assert ids(store.list(resumable=True)) == [c["id"], a["id"]]
    assert ids(store.list(search="SEARCH")) == [c["id"]]
    assert ids(store.list(meta={"k": "v"})) == [b["id"]]
    assert ids(store.list(since=T0 + timedelta(minutes=2))) == [c["id"], b["id"]]
    assert ids(store.list(until=T0 + timedelta(minutes=1))) == [a["id"]]
    assert ids(store.list(order="title", limit=1)) == [a["id"]] or True
    assert store.count(backend="claude") == 1 and store.count() == 3
    assert store.latest_resumable()["id"] == c["id"]
    assert store.latest_resumable(backend="claude")["id"] == a["id"]
    assert store.latest_resumable(working_dir="/w/two") is None
    with pytest.raises(UsageError):
        store.list(order="bogus")


def test_ambiguous_prefix(store: SessionStore) -> None:
    recs = [make(store, session_id="abcd" + f"{i:028x}") for i in range(12)]
    with pytest.raises(AmbiguousPrefix) as info:
        store.get("abcd")
    assert info.value.exit_code == ExitCode.USAGE
    assert recs[0]["id"] in info.value.message and "..." in info.value.message
    assert store.get("abcd" + "0" * 27 + "5")["id"] == recs[5]["id"]


@pytest.mark.parametrize("bad", ["../../etc", "abc", "", "zzzz", "abcd/../x", "/etc/passwd",
                                 "ünïcode", "abcd\\x"])
def test_bad_ids_refused_everywhere(store: SessionStore, bad: str) -> None:
    make(store)
    for call in (store.get, store.resolve_id, store.path_of, lambda s: delete(store, s),
                 lambda s: store.update(s, lambda r: None)):
        with pytest.raises(UsageError):
            call(bad)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=40))
def test_any_text_as_id_is_safe(store: SessionStore, text: str) -> None:
    try:
        store.get(text)
    except (UsageError, SessionNotFound):
        pass


def test_permissions_with_umask_zero(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = SessionStore(tmp_path / "deep" / "home")
        rec = make(store)
        store.update(rec["id"], lambda r: r.update(title="x"))
    finally:
        os.umask(old)
    mode = lambda p: p.stat().st_mode & 0o777  # noqa: E731
    assert mode(store.home) == 0o700 and mode(store.root) == 0o700
    assert mode(store.path_of(rec["id"]).parent) == 0o700
    assert mode(store.path_of(rec["id"])) == 0o600
    for extra in store.home.iterdir():
        if extra.is_file():
            assert mode(extra) == 0o600, extra


@pytest.mark.parametrize("path", ["/a-b", "/a/b", "/a_b", "/a b", "/", "/x" * 2500,
                                  "/home/ü/日本語/проект", "/tmp/" + "é" * 300, "/a/b/"])
def test_dirkey_valid(path: str) -> None:
    key = dirkey(path)
    assert "/" not in key and len(key.encode()) <= 255 and key.isascii()
    assert not key.startswith(".") and key == dirkey(path)


def test_dirkey_distinct() -> None:
    paths = ["/a-b", "/a/b", "/a_b", "/a b", "/x" * 2500, "/x" * 2499 + "/y", "/ü", "/u"]
    assert len({dirkey(p) for p in paths}) == len(paths)


@given(st.text(min_size=1, max_size=300).map(lambda s: "/" + s.replace("\0", "")))
def test_dirkey_property(path: str) -> None:
    key = dirkey(path)
    assert "/" not in key and 17 < len(key) <= 60 and key.isascii()


def write_raw(store: SessionStore, name: str, content: bytes, folder: str = "manual") -> Path:
    d = store.root / folder
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_bytes(content)
    return p


def test_bad_files_are_skipped_with_one_warning(store: SessionStore, warnings: list[str]) -> None:
    good = make(store, bsid="b1")
    other = S.new_session("codex", "/elsewhere")
    bad = {
        "damaged": write_raw(store, "1" * 32 + ".json", b'{"schema_version": 1, "id": '),
        "empty": write_raw(store, "2" * 32 + ".json", b""),
        "foreign": write_raw(store, "3" * 32 + ".json", b'{"hello": "world"}'),
        "notjson": write_raw(store, "notes.txt", b"hi"),
        "badname": write_raw(store, "notes.json", json.dumps(other).encode()),
        "mismatch": write_raw(store, "4" * 32 + ".json", json.dumps(other).encode()),
        "array": write_raw(store, "5" * 32 + ".json", b"[1, 2]"),
    }
    link = store.root / "manual" / f"{other['id']}.json"
    target = store.home / "target.json"
    target.write_text(json.dumps(other))
    link.symlink_to(target)
    bad["symlink"] = link
    (store.root / "linkdir").symlink_to(store.root / "manual")
    bad["linkdir"] = store.root / "linkdir"
    write_raw(store, ".hidden.tmp", b"partial")  # temp files are ignored silently
    for _ in range(2):
        assert [r["id"] for r in store.list()] == [good["id"]]
        assert store.get(good["id"][:6])["id"] == good["id"]
        assert store.latest_resumable()["id"] == good["id"]
        assert store.count() == 1
    with pytest.raises(SessionNotFound):
        store.get(other["id"])
    assert [r["id"] for r in store.iter_records()] == [good["id"]]
    assert len(warnings) == len(set(warnings)) == len(bad), warnings
    for key, path in bad.items():
        assert sum(w.startswith(f"skipping {path}: ") for w in warnings) == 1, key
    assert any("symbolic link" in w for w in warnings)
    assert any("empty file" in w for w in warnings)
    assert any("invalid JSON" in w for w in warnings)
    # a fresh process (new store object) still warns about them
    again: list[str] = []
    SessionStore(store.home, again.append).list()
    assert sorted(again) == sorted(warnings)


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_write_failure_keeps_old_file(store: SessionStore, monkeypatch, failing: str) -> None:
    rec = make(store)
    path = store.path_of(rec["id"])
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store_mod.os, failing, boom)
    with pytest.raises(StoreError, match="No space left on device") as info:
        store.update(rec["id"], lambda r: r.update(title="new title"))
    monkeypatch.undo()
    assert info.value.exit_code == ExitCode.BACKEND_FAILED
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == [path.name]
    assert store.get(rec["id"]) == rec


def test_permission_error_on_write(store: SessionStore) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores permissions")
    rec = make(store)
    folder = store.path_of(rec["id"]).parent
    folder.chmod(0o500)
    try:
        with pytest.raises(StoreError):
            store.update(rec["id"], lambda r: r.update(title="x"))
    finally:
        folder.chmod(0o700)
    assert store.get(rec["id"]) == rec


def test_validate_record_defaults_and_strictness() -> None:
    rec = S.new_session("claude", "/w")
    minimal = {k: rec[k] for k in ("schema_version", "id", "backend", "working_dir", "created_at")}
    full = S.validate_record(minimal)
    assert full["status"] == "active" and full["turns"] == [] and full["tags"] == []
    assert full["last_used"] == rec["created_at"]
    for bad in ({**rec, "schema_version": "1"}, {**rec, "id": "ABC"}, {**rec, "backend": 3},
                {**rec, "working_dir": "rel/path"}, {**rec, "status": "weird"},
                {**rec, "tags": [1]}, {**rec, "metadata": {"a": 1}}, {**rec, "last_used": "x"}):
        with pytest.raises(S.InvalidRecord):
            S.validate_record(bad)


def test_add_turn_totals_and_privacy() -> None:
    rec = S.new_session("claude", "/w")
    S.add_turn(rec, prompt="line one\nline two", duration_ms=5, exit_code=0,
               usage={"input_tokens": 10, "output_tokens": 3, "cached_input_tokens": 4},
               cost_usd=0.5)
    S.add_turn(rec, prompt="x" * 500, duration_ms=7, exit_code=1, usage=None, cost_usd=0.25,
               status="error", error="boom")
    assert rec["title"] == "line one" and rec["turn_count"] == 2
    assert rec["token_usage"]["total_tokens"] == 13 and rec["token_usage"]["cached_input_tokens"] == 4
    assert rec["cost_usd"] == 0.75 and rec["status"] == "error" and rec["error"] == "boom"
    assert len(rec["turns"][1]["prompt"]) == 200
    assert S.make_title("\n\n  " + "t" * 100) == "t" * 79 + "…"
    private = S.new_session("codex", "/w", store_usage=False)
    S.add_turn(private, prompt="secret", duration_ms=1, exit_code=0, usage={"input_tokens": 1},
               store_prompt=False, store_usage=False)
    assert private["title"] == S.NOT_STORED_TITLE and private["turns"][0]["prompt"] is None
    assert "token_usage" not in private and "usage" not in private["turns"][0]
    assert "secret" not in json.dumps(private)
    S.validate_record(private)

"""`sessions search --transcripts` through the transcript cache gives the hits and snippets
of a scan of the backend files, follows changed, new and deleted transcripts, handles
queries shorter than a trigram, and is not written by a read-only store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinvk.store import SessionStore
from clinvk.store.session import new_session
from clinvk.transcripts.cache import SEP, TranscriptCache, cache_path, flatten

QUERIES = ("needle", "NEEDLE", "ne", "x", "lorem ipsum", "ipsum\n  dolor", "Ünïcode ß",
           "quote \"it\"", "nothing-like-this")


@pytest.fixture
def home(clinvk):
    clinvk.config("session:\n  auto_clean: false\n")
    clinvk.store = SessionStore(clinvk.home)
    return clinvk


def _transcript(path: Path, bsid: str, texts: list[str]) -> None:
    lines = []
    for n, text in enumerate(texts):
        role = "user" if n % 2 == 0 else "assistant"
        content = text if role == "user" else [{"type": "text", "text": text}]
        lines.append(json.dumps({"type": role, "sessionId": bsid, "cwd": "/x",
                                 "message": {"id": f"m{n}", "role": role, "content": content}}))
    path.write_text("\n".join(lines) + "\n")


def _session(home, tmp_path: Path, n: int, texts: list[str] | None) -> tuple[dict, Path]:
    from clinvk.backends.claude_store import project_dir_name

    wdir = str(tmp_path / f"proj{n % 2}")
    bsid = f"{n:08d}-b6a5-42b0-a483-53e93009ce30"
    record = home.store.create(new_session("claude", wdir, title=f"session {n}",
                                           backend_session_id=bsid))
    folder = home.user_home / ".claude" / "projects" / project_dir_name(wdir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{bsid}.jsonl"
    if texts is not None:
        _transcript(path, bsid, texts)
    return record, path


def _search(home, query: str) -> tuple[list, str]:
    result = home.run("sessions", "search", "--transcripts", query, "-n", "100", "--json")
    assert result.code == 0, result.err
    return [(h["id"], h["match"]) for h in result.json()], result.err


def _scanned(home, query: str) -> tuple[list, str]:
    """The same search with the cache out of reach (a folder where its file would be)."""
    cache = cache_path(home.home)
    backup = cache.with_name("moved-aside")
    if cache.exists():
        cache.rename(backup)
    cache.mkdir()
    try:
        return _search(home, query)
    finally:
        cache.rmdir()
        if backup.exists():
            backup.rename(cache)


def _populate(home, tmp_path: Path) -> list[Path]:
    texts = [["lorem ipsum dolor", "a NEEDLE in\n  the hay"], ["ipsum   dolor sit", "ne"],
             ["Ünïcode SS and ß", "say \"it\" quote \"IT\""], ["x marks", "nothing"],
             ["needle again"], []]
    paths = [_session(home, tmp_path, n, t)[1] for n, t in enumerate(texts)]
    _session(home, tmp_path, 99, None)  # no transcript file at all
    return paths


def test_cached_search_equals_the_scan(home, tmp_path):
    _populate(home, tmp_path)
    for query in QUERIES:
        want = _scanned(home, query)
        assert _search(home, query) == want  # first: fills the cache
        assert _search(home, query) == want  # then from the cache
    assert cache_path(home.home).is_file()
    assert "could not be read" in _search(home, "needle")[1]


def test_changed_new_and_deleted_transcripts_are_followed(home, tmp_path):
    home.config("archive:\n  enabled: false\n")  # a deleted transcript is then gone for good
    paths = _populate(home, tmp_path)
    assert [m["snippet"] for _, m in _search(home, "zebra")[0]] == []
    bsid = paths[3].stem
    _transcript(paths[3], bsid, ["x marks", "a zebra appears"])  # changed, same folder
    os.utime(paths[3], ns=(1, 1))  # even with an old mtime: the size differs
    assert [m["snippet"] for _, m in _search(home, "zebra")[0]] == ["a zebra appears"]
    _session(home, tmp_path, 7, ["another zebra"])  # new
    assert len(_search(home, "zebra")[0]) == 2
    paths[3].unlink()  # deleted: not found, reported as before
    hits, err = _search(home, "zebra")
    assert [m["snippet"] for _, m in hits] == ["another zebra"]
    assert "could not be read" in err
    assert _search(home, "zebra") == _scanned(home, "zebra")
    docs = TranscriptCache(cache_path(home.home))
    assert not any(bsid in sig for sig in docs.signatures().values())
    docs.close()


def test_a_deleted_transcript_is_searched_in_its_archive(home, tmp_path):
    paths = _populate(home, tmp_path)
    bsid = paths[3].stem
    _transcript(paths[3], bsid, ["x marks", "a zebra appears"])  # changed outside clinvk:
    assert len(_search(home, "zebra")[0]) == 1  # the listing's adopt archives it again
    paths[3].unlink()
    hits, err = _search(home, "zebra")
    assert [m["snippet"] for _, m in hits] == ["a zebra appears"]
    docs = TranscriptCache(cache_path(home.home))
    sigs = [sig for sig in docs.signatures().values() if bsid in sig]
    docs.close()
    assert sigs and all(".gz" in sig for sig in sigs)  # keyed on the archive's own copy


def test_deleted_sessions_leave_the_cache(home, tmp_path):
    _populate(home, tmp_path)
    _search(home, "needle")
    gone = home.store.list()[0]["id"]
    assert home.run("sessions", "delete", gone, "--yes").code == 0
    _search(home, "needle")
    docs = TranscriptCache(cache_path(home.home))
    assert gone not in docs.signatures()
    docs.close()


def test_a_damaged_cache_is_rebuilt(home, tmp_path):
    _populate(home, tmp_path)
    want = _search(home, "needle")
    cache_path(home.home).write_bytes(b"not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{cache_path(home.home)}{suffix}").unlink(missing_ok=True)
    assert _search(home, "needle") == want


def test_read_only_store_writes_no_cache(home, tmp_path):
    from clinvk.app import App
    from clinvk.env import Environment
    from clinvk.transcripts.reader import BackendTranscriptReader as _transcript_reader
    from clinvk.transcripts.search import search

    _populate(home, tmp_path)
    app = App(Environment(environ=dict(home.env)))
    app.changes_nothing = True
    hits = search(app.store, "needle", read_transcript=_transcript_reader(app, "needle"))
    assert len(hits) == 2
    assert not cache_path(home.home).exists()


TEXT = st.text(st.sampled_from("aAbB ß\nİı\"Σς-x\x1e"), max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(TEXT, max_size=4), min_size=1, max_size=5), TEXT)
def test_matching_is_python_substring_of_the_flattened_texts(docs, query):
    needle = " ".join(query.split()).lower()
    if not needle:
        return
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cache = TranscriptCache(Path(tmp) / "t.sqlite3")
        cache.update({str(n): ("sig", flatten(texts)) for n, texts in enumerate(docs)}, [])
        got = cache.matching(needle, {str(n) for n in range(len(docs))})
        want = {str(n) for n, texts in enumerate(docs)
                if any(needle in " ".join(t.split()).lower() for t in texts)}
        assert set(got) == want
        for sid in got:
            pieces = flatten(docs[int(sid)])
            first = next(n for n, p in enumerate(pieces) if needle in p.lower())
            assert got[sid] == pieces[first:]
            assert all(SEP not in piece for piece in got[sid])
        cache.close()


def test_a_search_out_of_fill_time_reads_the_rest_as_before(home, tmp_path, monkeypatch):
    """Past FILL_SECONDS the changed transcripts are left to the scan: same hits, and the
    next searches fill the cache."""
    import clinvk.transcripts.lookup as lookup
    from clinvk.app import App
    from clinvk.env import Environment
    from clinvk.transcripts.reader import BackendTranscriptReader as _transcript_reader
    from clinvk.transcripts.search import search

    _populate(home, tmp_path)
    want = _scanned(home, "needle")
    monkeypatch.setattr(lookup, "FILL_SECONDS", -1.0)
    app = App(Environment(environ=dict(home.env)))
    hits = search(app.store, "needle", limit=100,
                  read_transcript=_transcript_reader(app, "needle"))
    assert [(h.record["id"], {"field": h.field, "snippet": h.snippet}) for h in hits] == want[0]
    docs = TranscriptCache(cache_path(home.home))
    assert docs.signatures() == {}
    docs.close()
    assert _search(home, "needle") == want


def _cached_ids(home) -> set[str]:
    docs = TranscriptCache(cache_path(home.home))
    try:
        return set(docs.signatures())
    finally:
        docs.close()


def test_deleted_and_cleaned_sessions_leave_no_text_in_the_cache(home, tmp_path):
    first, _ = _session(home, tmp_path, 1, ["secret plans", "noted"])
    second, _ = _session(home, tmp_path, 2, ["more secret plans", "noted"])
    assert len(_search(home, "secret")[0]) == 2
    assert _cached_ids(home) == {first["id"], second["id"]}
    assert home.run("sessions", "delete", "--yes", first["id"]).code == 0
    assert _cached_ids(home) == {second["id"]}
    for path in home.home.glob(f"sessions/*/{second['id']}.json"):  # long unused
        record = json.loads(path.read_text())
        record["last_used"] = "2000-01-01T00:00:00Z"
        path.write_text(json.dumps(record))
    assert home.run("sessions", "clean", "--older-than", "1h").code == 0
    assert _cached_ids(home) == set()
    raw = b"".join(p.read_bytes() for p in home.home.glob("transcripts.sqlite3*"))
    assert b"secret plans" not in raw  # nowhere in the file or its journal


def test_no_cache_of_conversations_when_prompts_are_not_stored(home, tmp_path):
    _session(home, tmp_path, 1, ["secret plans", "noted"])
    assert len(_search(home, "secret")[0]) == 1
    assert cache_path(home.home).is_file()
    home.config("session:\n  auto_clean: false\n  store_prompts: false\n")
    assert len(_search(home, "secret")[0]) == 1  # still found, by reading the files
    assert not list(home.home.glob("transcripts.sqlite3*"))


def _api_search(home, query: str) -> list[tuple[str, str]]:
    """The search in this process (so that the backends' look-ups can be counted)."""
    from clinvk.app import App
    from clinvk.env import Environment
    from clinvk.transcripts.reader import BackendTranscriptReader as _transcript_reader
    from clinvk.transcripts.search import search

    app = App(Environment(environ=dict(home.env)))
    hits = search(app.store, query, limit=100, read_transcript=_transcript_reader(app, query))
    return [(h.record["id"], h.snippet) for h in hits]


def test_fresh_entries_are_not_looked_for_again(home, tmp_path, monkeypatch):
    """A cached session whose files a stat finds unchanged is answered without asking its
    backend where its files are; a changed file is read again."""
    import clinvk.backends.claude_store as claude_store

    paths = _populate(home, tmp_path)
    asked: list[str] = []
    real = claude_store.claude_session_files

    def counting(session_id, working_dir, environ):
        asked.append(session_id)
        return real(session_id, working_dir, environ)

    monkeypatch.setattr(claude_store, "claude_session_files", counting)
    want = _api_search(home, "needle")
    assert len(asked) == 7  # the first search looks every session up
    for path in paths:  # past the racy window: the signatures hold real mtimes
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    _api_search(home, "needle")  # re-reads them (their mtime changed)
    asked.clear()
    assert _api_search(home, "needle") == want
    assert asked == [f"{99:08d}-b6a5-42b0-a483-53e93009ce30"]  # only the one without a file
    _transcript(paths[3], paths[3].stem, ["x marks", "a needle here too"])
    os.utime(paths[3], ns=(2_000_000_000, 2_000_000_000))
    asked.clear()
    assert len(_api_search(home, "needle")) == 3
    assert sorted(asked) == sorted([paths[3].stem, f"{99:08d}-b6a5-42b0-a483-53e93009ce30"])


def test_a_record_pointing_elsewhere_is_looked_for_again(home, tmp_path):
    """The entry remembers the record key it was read for: a record given another backend
    session (or moved) is looked up and read again, even though its old files are
    unchanged."""
    first, first_path = _session(home, tmp_path, 1, ["plain words", "nothing here"])
    _second, second_path = _session(home, tmp_path, 2, ["a zebra appears", "noted"])
    for path in (first_path, second_path):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert len(_api_search(home, "zebra")) == 1
    home.store.update(first["id"], lambda r: r.update(backend_session_id=second_path.stem))
    assert len(_api_search(home, "zebra")) == 2
    assert _search(home, "zebra") == _scanned(home, "zebra")


def test_codex_rollouts_are_found_when_added_to_a_listed_folder(tmp_path):
    """rollout_files keeps folder listings while their mtimes stay: a rollout added later
    (the folder's mtime changes) is found."""
    from clinvk.backends.codex_store import rollout_files

    thread = "01a20592-dc3e-72b0-bd0f-2803fb0461c4"
    day = tmp_path / "sessions" / "2026" / "11" / "22"
    day.mkdir(parents=True)
    (day / f"rollout-2026-11-22T23-24-00-{thread}.jsonl").write_text("{}\n")
    (day / "rollout-2026-11-22T23-25-00-other.jsonl").write_text("{}\n")
    for folder in (day, day.parent, day.parent.parent, day.parent.parent.parent):
        os.utime(folder, ns=(1_000_000_000, 1_000_000_000))
    env = {"CODEX_HOME": str(tmp_path)}
    assert [p.name for p in rollout_files(thread, env)] == [
        f"rollout-2026-11-22T23-24-00-{thread}.jsonl"]
    (day / f"rollout-2026-11-23T08-00-00-{thread}.jsonl").write_text("{}\n")
    assert len(rollout_files(thread, env)) == 2
    other = tmp_path / "sessions" / "2026" / "12" / "01"
    other.mkdir(parents=True)
    (other / f"rollout-2026-12-01T08-00-00-{thread}.jsonl").write_text("{}\n")
    assert [p.name[8:18] for p in rollout_files(thread, env)] == [
        "2026-11-22", "2026-11-23", "2026-12-01"]
    assert rollout_files("no-such-thread", env) == []

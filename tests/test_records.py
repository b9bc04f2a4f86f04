"""One bad record never stops the store (issue 9, items 1, 4c and 5c): the record check on
read and write, `sessions import` refusing bad entries and bounding strings, damaged files
skipped with one warning and deletable, hostile config files, and a killed import."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Clinvk, assert_clean_error, recent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinvk.records import Record, factory, replace
from clinvk.store import SessionStore
from clinvk.store import session as S
from clinvk.store.files import dirkey
from clinvk.store.record_check import check_record, storable
from clinvk.store.schema import ROW_COLS, SCHEMA, row_values

GOOD_ID = "0123456789abcdef0123456789abcdef"
BAD_ID = "fedcba9876543210fedcba9876543210"


def _record(sid: str = GOOD_ID, **fields) -> dict:
    rec = {"schema_version": 2, "id": sid, "backend": "claude", "backend_session_id": None,
           "model": None, "working_dir": "/tmp", "title": "a title", "status": "active",
           "error": None, "created_at": "2026-11-01T10:00:00Z",
           "last_used": "2026-11-01T10:00:00Z", "turn_count": 1,
           "token_usage": S.empty_usage(), "cost_usd": None,
           "turns": [{"at": "2026-11-01T10:00:00Z", "prompt": "hi", "duration_ms": 5,
                      "exit_code": 0, "usage": S.empty_usage()}],
           "tags": [], "parent_id": None, "metadata": {}}
    rec.update(fields)
    return rec


def _turn(**fields) -> dict:
    return [{**_record()["turns"][0], **fields}]


# what the issue names, and more: each must be refused on import and skipped on read
BAD = {
    "prompt not a string": {"turns": [{"prompt": 7}]},
    "turn prompt int": {"turns": _turn(prompt=7)},
    "turn_count >= 2**63": {"turn_count": 2**63},
    "turn_count negative": {"turn_count": -1},
    "turn_count float": {"turn_count": 1.5},
    "turn_count bool": {"turn_count": True},
    "string for a dict": {"token_usage": "lots"},
    "metadata a string": {"metadata": "x"},
    "metadata value int": {"metadata": {"k": 1}},
    "tags a string": {"tags": "work"},
    "tag not a string": {"tags": [3]},
    "negative tokens": {"token_usage": {**S.empty_usage(), "input_tokens": -5}},
    "huge tokens": {"token_usage": {**S.empty_usage(), "output_tokens": 2**64}},
    "float tokens": {"turns": _turn(usage={"input_tokens": 1.5})},
    "nan cost": {"cost_usd": math.nan},
    "inf cost": {"cost_usd": math.inf},
    "negative cost": {"cost_usd": -1.0},
    "negative duration": {"turns": _turn(duration_ms=-1)},
    "huge exit code": {"turns": _turn(exit_code=2**63)},
    "turn not an object": {"turns": ["x"]},
    "turns an object": {"turns": {"a": 1}},
    "bad turn time": {"turns": _turn(at="yesterday")},
    "bad created_at": {"created_at": "2026-13-45T99:00:00Z"},
    "created_at a number": {"created_at": 1700000000},
    "id upper case": {"id": GOOD_ID.upper()},
    "parent_id not an id": {"parent_id": "abc"},
    "status a list": {"status": ["active"]},
    "backend missing": {"backend": None},
    "working_dir relative": {"working_dir": "rel"},
    "model a dict": {"model": {"name": "x"}},
    "backend_session_id with NUL": {"backend_session_id": "a\0b"},
    "backend_session_id too long": {"backend_session_id": "a" * 201},
    "model too long": {"model": "m" * 201},
    "tag too long": {"tags": ["t" * 201]},
    "metadata key too long": {"metadata": {"k" * 201: "v"}},
    "metadata value too long": {"metadata": {"k": "v" * 10_001}},
    "schema_version a string": {"schema_version": "1"},
    # lone surrogates (a JSON \\udcff escape, an argument's undecodable byte): not UTF-8
    "working_dir not UTF-8": {"working_dir": "/tmp/d\udcff"},
    "model not UTF-8": {"model": "op\udcffus"},
    "title not UTF-8": {"title": "t\ud800"},
    "prompt not UTF-8": {"turns": _turn(prompt="p\udfff")},
    "tag not UTF-8": {"tags": ["x\udcfe"]},
    "metadata key not UTF-8": {"metadata": {"k\udcfe": "v"}},
    "metadata value not UTF-8": {"metadata": {"k": "v\udcfe"}},
    "error not UTF-8": {"status": "error", "error": "e\udcfe"},
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_the_check_refuses_wrong_types_and_ranges(name: str) -> None:
    with pytest.raises(S.InvalidRecord):
        check_record(_record(**BAD[name]))


def test_required_fields() -> None:
    for key in ("schema_version", "id", "backend", "working_dir"):
        rec = _record()
        del rec[key]
        with pytest.raises(S.InvalidRecord):
            check_record(rec)
    rec = _record()
    del rec["created_at"], rec["last_used"]
    with pytest.raises(S.InvalidRecord):
        check_record(rec)


def test_free_text_is_shortened_with_a_note() -> None:
    rec, notes = check_record(_record(title="x" * 900_000, turns=_turn(prompt="p" * 5000),
                                      error="e" * 10_000))
    assert len(rec["title"]) == 80 and rec["title"].endswith("…")
    assert len(rec["turns"][0]["prompt"]) == 200 and len(rec["error"]) == 2000
    assert len(notes) == 3 and any("title" in n for n in notes)
    assert check_record(rec) == (rec, [])  # a checked record passes as it is


def _index_row(rec: dict) -> None:
    """Insert the record's index row the way index.py does (SQLite's 64-bit integers)."""
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    db.execute("INSERT INTO sessions VALUES (" + ",".join("?" * ROW_COLS) + ")",
               (rec["id"], "d", "n", 0, 0, 0, 0, *row_values(rec)))
    db.execute("SELECT sum(total_tokens), sum(turn_count) FROM sessions").fetchall()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
    | st.sampled_from(["\udcff", "a\ud800b"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = sorted(_record()) + ["turns.0.prompt", "turns.0.usage", "turns.0.duration_ms",
                              "turns.0.at", "token_usage.input_tokens"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(FIELDS), JSON), min_size=1, max_size=4))
def test_any_damage_is_refused_or_harmless(changes) -> None:
    rec = _record()
    for where, value in changes:
        target, *path = where.split(".")
        node = rec
        try:  # a change below one replaced by an earlier change does not apply
            for part in [target, *path][:-1]:
                node = node[int(part)] if isinstance(node, list) else node[part]
            last = [target, *path][-1]
            node[int(last) if isinstance(node, list) else last] = copy.deepcopy(value)
        except (LookupError, TypeError, ValueError):
            continue
    try:
        clean, _notes = check_record(rec)
    except S.InvalidRecord:
        return
    _index_row(clean)  # what crashed every command: the index (and SQLite) accept it
    json.dumps(clean, allow_nan=False, ensure_ascii=False).encode("utf-8")  # finite, UTF-8
    assert check_record(clean)[0] == clean


def test_storable_keeps_a_turn_recordable() -> None:
    rec = S.new_session("claude", "/w", tags=["ok", "", "t" * 300])
    rec["backend_session_id"] = "x" * 5000
    rec["model"] = "bad\0model"
    storable(rec)
    assert rec["backend_session_id"] is None and rec["model"] is None and rec["tags"] == ["ok"]
    check_record(rec)


def test_storable_leaves_out_or_replaces_what_is_not_utf8() -> None:
    """What a backend's files or a caller carried in as lone surrogates never reaches
    json.dump: ids, model, tags and metadata are left out, free text gets U+FFFD."""
    rec = S.new_session("claude", "/w", title="t\udcff", tags=["ok", "x\udcfe"],
                        metadata={"k": "v\ud800", "k\udcff": "v", "good": "yes"})
    rec["backend_session_id"] = "id\udcff"
    rec["model"] = "op\udcffus"
    S.add_turn(rec, prompt="said \udcff", duration_ms=1, exit_code=1, status="error",
               error="bad \ud800")
    storable(rec)
    assert rec["backend_session_id"] is None and rec["model"] is None
    assert rec["tags"] == ["ok"] and rec["metadata"] == {"good": "yes"}
    assert rec["title"] == "t\ufffd" and rec["error"] == "bad \ufffd"
    assert rec["turns"][-1]["prompt"] == "said \ufffd"
    clean, _notes = check_record(rec)
    json.dumps(clean, ensure_ascii=False).encode("utf-8")


# -- the store and the commands ----------------------------------------------------------

def _plant(home: Path, rec: dict, name: str | None = None) -> Path:
    folder = home / "sessions" / dirkey(rec.get("working_dir") or "/tmp")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / (name or f"{rec['id']}.json")
    path.write_text(json.dumps(rec))
    return path


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("clinvk: warning:")]


@pytest.fixture
def store_with_a_bad_file(clinvk: Clinvk) -> tuple[Clinvk, Path]:
    clinvk.config("session:\n  auto_clean: false\n")
    SessionStore(clinvk.home).create(_record(last_used="2026-11-20T10:00:00Z"))
    bad = _plant(clinvk.home, _record(BAD_ID, turns=[{"prompt": 7}], turn_count=2**63))
    return clinvk, bad


@pytest.mark.parametrize("args", [
    ("sessions", "list"), ("sessions", "list", "--json"), ("sessions", "stats"),
    ("sessions", "stats", "--by", "model"), ("sessions", "show", GOOD_ID[:6]),
    ("sessions", "search", "title"), ("sessions", "clean", "--older-than", "3000d"),
    ("sessions", "tag", GOOD_ID[:6], "x"), ("sessions", "export", "--all", "--no-transcript"),
])
def test_commands_survive_a_bad_file_in_the_store(store_with_a_bad_file, args) -> None:
    clinvk, bad = store_with_a_bad_file
    result = clinvk.run(*args)
    assert result.code == 0, result.err
    warnings = _warnings(result.err)
    assert len(warnings) == 1 and str(bad) in warnings[0] and "turn" in warnings[0], result.err
    assert "error" not in result.err


def test_a_new_turn_is_recorded_beside_a_bad_file(store_with_a_bad_file) -> None:
    clinvk, _bad = store_with_a_bad_file
    clinvk.config(f"session:\n  auto_clean: false\nbackends:\n  fake:\n    adapter: claude\n"
                  f"    command: {Path(__file__).parent / 'fakes' / 'fakecli.py'}\n")
    result = clinvk.run("-b", "fake", "hello")
    assert result.code == 0, result.err
    assert len(clinvk.run("sessions", "list", "--json").json()) == 2


def test_delete_removes_a_damaged_session(store_with_a_bad_file) -> None:
    clinvk, bad = store_with_a_bad_file
    assert_clean_error(clinvk.run("sessions", "show", BAD_ID[:6]), 2, "no session matches")
    result = clinvk.run("sessions", "delete", BAD_ID[:6], "-y")
    assert result.code == 0 and "deleted 1 session" in result.out, result.err
    assert not bad.exists()
    after = clinvk.run("sessions", "list", "--json")
    assert after.code == 0 and _warnings(after.err) == [] and len(after.json()) == 1


def test_import_refuses_a_bad_record_and_writes_nothing(clinvk: Clinvk, tmp_path: Path) -> None:
    for n, (name, change) in enumerate(sorted(BAD.items())):
        good = _record(f"{n + 1:032x}")
        bundle = {"format": "clinvk-export", "version": 1,
                  "sessions": [{"session": good}, {"session": _record(**change)}]}
        path = tmp_path / f"b{n}.json"
        path.write_text(json.dumps(bundle))
        result = clinvk.run("sessions", "import", str(path))
        # NaN and Infinity are not JSON: the file is refused as a whole, before its entries
        where = "not JSON" if name in ("nan cost", "inf cost") else "session 2"
        assert_clean_error(result, 2, str(path), where, "nothing was imported")
        assert not (clinvk.home / "sessions").exists() or not any(
            (clinvk.home / "sessions").rglob("*.json")), name


def test_import_bounds_strings(clinvk: Clinvk, tmp_path: Path) -> None:
    # dated now: a record past retention_days would bring one more warning (its expiry)
    now = recent()
    long = _record(title="t" * 900_000, turns=_turn(prompt="p" * 1000, at=now),
                   created_at=now, last_used=now)
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"format": "clinvk-export", "version": 1,
                                "sessions": [{"session": long}]}))
    result = clinvk.run("sessions", "import", str(path))
    assert result.code == 0, result.err
    warned = _warnings(result.err)
    assert len(warned) == 2 and all(str(path) in w and "session 1" in w for w in warned)
    (stored,) = clinvk.sessions()
    assert len(stored["title"]) == 80 and len(stored["turns"][0]["prompt"]) == 200
    listing = clinvk.run("sessions", "list")
    assert max(len(line) for line in listing.out.splitlines()) < 200


@pytest.mark.parametrize("text", [
    "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "a: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
    "".join(" " * i + f"k{i}:\n" for i in range(3000)) + " " * 3000 + "x: 1\n",
])
def test_a_deeply_nested_config_is_exit_2_naming_the_file(clinvk: Clinvk, text: str) -> None:
    path = clinvk.config(text)
    assert_clean_error(clinvk.run("sessions", "list"), 2, str(path))


# -- a killed import -----------------------------------------------------------------------

def _bundle(tmp_path: Path, count: int) -> Path:
    records = [_record(f"{i + 1:032x}", working_dir=f"/tmp/w{i % 2}") for i in range(count)]
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"format": "clinvk-export", "version": 1,
                                "sessions": [{"session": r} for r in records]}))
    return path


def _kill_import_at(clinvk: Clinvk, path: Path, phase: str) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "clinvk", "sessions", "import", str(path)],
                            cwd=clinvk.cwd, env={**clinvk.env, "CLINVK_TEST_IMPORT_PAUSE": phase},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline().strip() == f"clinvk: paused at {phase}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()


def _temps(home: Path) -> list[Path]:
    return [p for p in (home / "sessions").rglob(".*") if p.is_file()]


def test_an_import_killed_while_writing_leaves_nothing(clinvk: Clinvk, tmp_path: Path) -> None:
    clinvk.config("session:\n  auto_clean: false\n")
    path = _bundle(tmp_path, 6)
    _kill_import_at(clinvk, path, "staged:4")
    assert len(_temps(clinvk.home)) == 4  # full records, in temp files
    listed = clinvk.run("sessions", "list", "--json")
    assert listed.code == 0 and listed.json() == [] and _warnings(listed.err) == []
    result = clinvk.run("sessions", "import", str(path))  # the same command again
    assert result.code == 0, result.err
    assert len(clinvk.sessions()) == 6
    assert _temps(clinvk.home) == []  # the dead import's temp files went with the next write


def test_stale_temp_files_go_with_the_next_write(clinvk: Clinvk, tmp_path: Path) -> None:
    clinvk.config("session:\n  auto_clean: false\n")
    SessionStore(clinvk.home).create(_record(f"{99:032x}", last_used="2020-01-01T00:00:00Z"))
    _kill_import_at(clinvk, _bundle(tmp_path, 3), "staged:2")
    assert len(_temps(clinvk.home)) == 2
    assert clinvk.run("sessions", "clean", "--older-than", "1d").code == 0
    assert _temps(clinvk.home) == [] and clinvk.sessions() == []


def test_an_import_killed_while_renaming_is_completed(clinvk: Clinvk, tmp_path: Path) -> None:
    clinvk.config("session:\n  auto_clean: false\n")
    path = _bundle(tmp_path, 5)
    _kill_import_at(clinvk, path, "renamed:2")
    listed = clinvk.run("sessions", "list", "--json")  # finishes the dead import's renames
    assert listed.code == 0 and _warnings(listed.err) == [], listed.err
    assert len(listed.json()) == 5 and _temps(clinvk.home) == []
    assert not os.path.exists(clinvk.home / "sessions" / ".batch-journal.json")
    again = clinvk.run("sessions", "import", str(path))
    assert_clean_error(again, 2, "exists already")  # SPEC: an id that exists is an error


def test_what_a_user_types_or_a_backend_says_never_loses_a_turn(clinvk: Clinvk) -> None:
    clinvk.add_fake_backend(FAKE_SESSION_ID="s" * 5000)  # a backend id no check accepts
    result = clinvk.run("-b", "fake", "-t", "ok", "hello")
    assert result.code == 0, result.err
    (rec,) = clinvk.sessions()
    assert rec["turn_count"] == 1 and rec["backend_session_id"] is None and rec["tags"] == ["ok"]
    for bad in ("", "t" * 201):  # refused before anything runs
        assert_clean_error(clinvk.run("-b", "fake", "-t", bad, "hello"), 2, "tag")
    assert_clean_error(clinvk.run("sessions", "tag", rec["id"][:6], "t" * 201), 2, "longer")
    assert_clean_error(clinvk.run("sessions", "meta", rec["id"][:6], "k", "v" * 10_001), 2,
                       "longer")
    assert len(clinvk.sessions()) == 1


def test_organise_commands_refuse_text_that_is_not_utf8(clinvk: Clinvk) -> None:
    # an argument's undecodable byte: exit 2 naming it, not a record the store cannot write
    clinvk.add_fake_backend()
    assert clinvk.run("-b", "fake", "hello").code == 0
    (rec,) = clinvk.sessions()
    odd = os.fsdecode(b"x\xff")  # passed on as the byte \xff
    for args, what in ((["tag", rec["id"][:6], odd], "tag"), (["rename", rec["id"][:6], odd], "title"),
                       (["meta", rec["id"][:6], odd, "v"], "metadata key"),
                       (["meta", rec["id"][:6], "k", odd], "metadata value")):
        assert_clean_error(clinvk.run("sessions", *args), 2, what, "x\\xff", "not UTF-8")
    assert clinvk.sessions() == [rec]


# -- clinvk.records: the dataclass-like base of the launch path's value classes ------------

class _Point(Record, frozen=True):
    x: int
    y: int = 0
    tags: list[str] = factory(list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", sorted(self.tags))


class _Counter(Record):
    seen: int = 0


def test_replace_changes_the_given_fields_of_a_new_instance() -> None:
    point = _Point(1, 2, ["b", "a"])
    moved = replace(point, y=5, tags=["z", "c"])
    assert moved == _Point(1, 5, ["c", "z"]) and type(moved) is _Point  # __post_init__ again
    assert point == _Point(1, 2, ["a", "b"])  # the original as it was
    assert replace(point) == point and replace(point) is not point
    counter = _Counter(3)
    assert replace(counter, seen=4).seen == 4 and counter.seen == 3


def test_replace_refuses_a_name_that_is_no_field() -> None:
    with pytest.raises(TypeError, match="colour"):
        replace(_Point(1), colour="red")
    with pytest.raises(TypeError):
        replace(object(), x=1)  # type: ignore[type-var]
    with pytest.raises(dataclasses.FrozenInstanceError):
        _Point(1).x = 2  # type: ignore[misc]


def test_usage_and_cost_fit_counts_the_sessions_totals_too() -> None:
    from clinvk.store.record_check import cost_fits, usage_fits

    half = 6 * 10**11
    assert usage_fits({"input_tokens": half}, {}) and cost_fits(6e8, {})
    full = {"token_usage": {"input_tokens": half}, "cost_usd": 6e8}
    assert not usage_fits({"input_tokens": half}, full) and not cost_fits(6e8, full)
    assert not usage_fits({"input_tokens": -1}, {}) and not cost_fits(float("nan"), {})
    assert not usage_fits({"input_tokens": 1.5}, {}) and not cost_fits("1", {})
    assert usage_fits({}, {"token_usage": {"input_tokens": 10**13}})


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_import_refuses_numbers_json_has_not(clinvk: Clinvk, tmp_path: Path, number: str) -> None:
    """An unknown field (kept as it is) holding NaN or Infinity was imported and written, and
    every `--json` listing then held it: not JSON to strict readers (JSON.parse, Go)."""
    text = json.dumps({"format": "clinvk-export", "version": 1,
                       "sessions": [{"session": _record(extra="PLACEHOLDER")}]})
    path = tmp_path / "b.json"
    path.write_text(text.replace('"PLACEHOLDER"', number))
    assert_clean_error(clinvk.run("sessions", "import", str(path)), 2, "not JSON", "nothing was imported")
    assert clinvk.sessions() == []


@pytest.mark.parametrize("title, said", [("x\udcff", "not UTF-8 text"), ("", "empty title"),
                                         ("  \n ", "empty title")])
def test_import_title_is_checked_as_rename_checks_it(clinvk: Clinvk, tmp_path: Path,
                                                     title: str, said: str) -> None:
    """`import --title` with a byte that is not UTF-8 was exit 1 (`refusing to store an
    invalid session`), an empty one was taken as a title; `sessions rename` refuses both."""
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"format": "clinvk-export", "version": 1,
                                "sessions": [{"session": _record()}]}))
    result = clinvk.run("sessions", "import", "--new-id", "--title", title, str(path))
    assert_clean_error(result, 2, said)
    assert clinvk.sessions() == []

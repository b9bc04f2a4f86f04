"""`clinvk sessions list|show|delete|clean` through the entry point, against the files on disk."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import assert_clean_error

from clinvk.paths import clean_stamp_path
from clinvk.store import SessionStore, dirkey
from clinvk.store import session as S


def add(clinvk, *, age: timedelta = timedelta(minutes=5), backend: str = "claude",
        workdir: str | None = None, tokens: int = 1234, prompt: str = "fix the parser",
        session_id: str | None = None, tags: tuple[str, ...] = ()) -> dict:
    """Store one session with one turn, last used `age` ago, through the store API."""
    at = datetime.now(timezone.utc) - age
    record = S.new_session(backend, workdir or str(clinvk.cwd), now=at - timedelta(minutes=1),
                           session_id=session_id, tags=tags, backend_session_id="bsid-1")
    S.add_turn(record, prompt=prompt, duration_ms=1500, exit_code=0, at=at,
               usage={"input_tokens": tokens - 34, "output_tokens": 34})
    store = SessionStore(clinvk.home)
    try:
        return store.create(record)
    finally:
        store.close()


def files_on_disk(clinvk) -> dict[str, dict]:
    """Every session file under sessions/, by id, as parsed JSON."""
    return {p.stem: json.loads(p.read_text())
            for p in (clinvk.home / "sessions").glob("*/*.json")}


def path_of(clinvk, record: dict) -> Path:
    return clinvk.home / "sessions" / dirkey(record["working_dir"]) / f"{record['id']}.json"


def no_auto_clean(clinvk, extra: str = "") -> None:
    clinvk.config("session:\n  auto_clean: false\n" + extra)


# -- --json outputs against the files ------------------------------------------------------
def test_list_json_is_the_files_newest_first(clinvk, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    a = add(clinvk, age=timedelta(hours=3))
    b = add(clinvk, age=timedelta(minutes=1), backend="codex", workdir=str(other))
    c = add(clinvk, age=timedelta(days=2), backend="gemini")
    result = clinvk.run("sessions", "list", "--json")
    assert result.code == 0, result.err
    listed = result.json()
    assert [r["id"] for r in listed] == [b["id"], a["id"], c["id"]]
    disk = files_on_disk(clinvk)
    assert len(disk) == 3
    for record in listed:
        assert record == disk[record["id"]]
    limited = clinvk.run("sessions", "list", "--json", "-n", "2").json()
    assert [r["id"] for r in limited] == [b["id"], a["id"]]
    here = clinvk.run("sessions", "list", "--json", "--here", cwd=other).json()
    assert [r["id"] for r in here] == [b["id"]]
    assert [r["id"] for r in clinvk.run("sessions", "list", "--json", "-b", "gemini").json()] \
        == [c["id"]]


def test_list_json_on_an_empty_home_is_an_empty_array_and_creates_nothing(clinvk):
    result = clinvk.run("sessions", "list", "--json")
    assert result.code == 0 and result.json() == [] and result.err == ""
    assert not clinvk.home.exists()


def test_show_json_by_unique_prefix_is_the_file(clinvk):
    rec = add(clinvk, session_id="1234abcd" + "0" * 24)
    add(clinvk, session_id="1234abce" + "0" * 24)
    result = clinvk.run("sessions", "show", "1234ABCD", "--json")  # any case, unique prefix
    assert result.code == 0, result.err
    assert result.json() == json.loads(path_of(clinvk, rec).read_text())


def test_clean_json_reports_what_left_the_disk(clinvk):
    no_auto_clean(clinvk)
    old = [add(clinvk, age=timedelta(days=d)) for d in (11, 40)]
    new = add(clinvk, age=timedelta(days=9))
    sizes = {r["id"]: path_of(clinvk, r).stat().st_size for r in old}
    result = clinvk.run("sessions", "clean", "--older-than", "10d", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["dry_run"] is False and report["removed"] == 2
    assert [r["id"] for r in report["sessions"]] == [old[1]["id"], old[0]["id"]]  # oldest first
    assert report["bytes_freed"] == sum(sizes.values())
    assert set(files_on_disk(clinvk)) == {new["id"]}
    assert [r["id"] for r in clinvk.sessions()] == [new["id"]]


# -- the human table ---------------------------------------------------------------------------
def test_list_table_humanizes_times_and_tokens(clinvk):
    rec = add(clinvk, age=timedelta(minutes=5), tokens=1234, prompt="refactor the parser")
    add(clinvk, age=timedelta(days=3), tokens=56789012)
    result = clinvk.run("sessions", "list")
    assert result.code == 0, result.err
    header, first, second = result.out.splitlines()
    assert header.split()[:4] == ["ID", "BACKEND", "STATUS", "LAST"]
    assert re.match(rf"{rec['id'][:8]} +claude +active +5 minutes ago +1,234 +", first), first
    assert rec["id"][:9] not in first
    assert "refactor the parser" in first
    assert "3 days ago" in second and "56,789,012" in second
    assert len(second.split()[0]) == 8


def test_list_says_when_rows_are_left_out(clinvk):
    for n in range(3):
        add(clinvk, age=timedelta(minutes=n + 1))
    result = clinvk.run("sessions", "list", "-n", "2")
    assert result.code == 0 and len(result.out.splitlines()) == 3
    assert "2 of 3" in result.err


def test_a_limit_the_index_cannot_count_to_is_a_usage_error(clinvk):
    add(clinvk)
    assert clinvk.run("sessions", "list", "-n", str(2**63 - 1)).code == 0
    for args in (("sessions", "list"), ("sessions", "search", "x")):
        result = clinvk.run(*args, "-n", "99999999999999999999")
        assert result.code == 2 and "Traceback" not in result.err and "--limit" in result.err


def test_show_by_prefix_prints_every_field(clinvk):
    rec = add(clinvk, tags=("perf",))
    result = clinvk.run("sessions", "show", rec["id"][:6])
    assert result.code == 0, result.err
    assert rec["id"] in result.out and "bsid-1" in result.out and "perf" in result.out
    assert "minutes ago" in result.out and rec["last_used"] in result.out
    assert "1,234" in result.out


# -- ids: ambiguous, missing, malformed ------------------------------------------------------
def test_ambiguous_prefix_lists_the_candidates(clinvk):
    a = add(clinvk, session_id="abcd1" + "1" * 27)
    b = add(clinvk, session_id="abcd2" + "2" * 27)
    add(clinvk, session_id="ffff" + "3" * 28)
    for cmd in (["show"], ["delete", "-y"]):
        result = clinvk.run("sessions", *cmd, "abcd")
        assert_clean_error(result, 2, "ambiguous", "abcd")
        assert a["id"] in result.err and b["id"] in result.err
    assert len(files_on_disk(clinvk)) == 3


@pytest.mark.parametrize("cmd", [["show"], ["delete", "-y"]])
def test_no_such_session(clinvk, cmd):
    add(clinvk, session_id="abcd" + "0" * 28)
    result = clinvk.run("sessions", *cmd, "beef")
    assert_clean_error(result, 2, "no session matches", "beef")
    assert len(files_on_disk(clinvk)) == 1


@pytest.mark.parametrize("bad", ["../../etc", "zz", "abc", "", " ", "a" * 33, "abcd/../x",
                                 "ａｂｃｄ", "abcd\x00"])
@pytest.mark.parametrize("cmd", [["show"], ["delete", "-y"]])
def test_malformed_id_is_a_clean_usage_error(clinvk, cmd, bad):
    rec = add(clinvk)
    result = clinvk.run("sessions", *cmd, bad.replace("\x00", "\\0"))
    assert_clean_error(result, 2, "session id")
    assert path_of(clinvk, rec).exists()


# -- delete ------------------------------------------------------------------------------------
def test_delete_with_yes(clinvk):
    keep = add(clinvk)
    gone = [add(clinvk), add(clinvk)]
    result = clinvk.run("sessions", "delete", "-y", gone[0]["id"][:8], gone[1]["id"])
    assert result.code == 0, result.err
    assert "deleted 2" in result.out
    assert set(files_on_disk(clinvk)) == {keep["id"]}


def test_delete_without_a_terminal_does_not_ask(clinvk):
    rec = add(clinvk)
    other = add(clinvk)
    result = clinvk.run("sessions", "delete", rec["id"], stdin="n\n")  # piped: no prompt
    assert result.code == 0, result.err
    assert "[y/N]" not in result.err
    assert not path_of(clinvk, rec).exists()
    result = clinvk.run("sessions", "delete", other["id"])  # stdin is /dev/null
    assert result.code == 0 and not path_of(clinvk, other).exists()


def test_delete_on_a_terminal_asks_first(clinvk):
    pexpect = pytest.importorskip("pexpect")
    import sys

    rec = add(clinvk)
    env = {**clinvk.env, "NO_COLOR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "clinvk", "sessions", "delete", rec["id"][:8]],
                          cwd=str(clinvk.cwd), env=env, encoding="utf-8", timeout=60)
    child.expect(r"\[y/N\]")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and path_of(clinvk, rec).exists()
    child = pexpect.spawn(sys.executable, ["-m", "clinvk", "sessions", "delete", rec["id"][:8]],
                          cwd=str(clinvk.cwd), env=env, encoding="utf-8", timeout=60)
    child.expect(r"\[y/N\]")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and not path_of(clinvk, rec).exists()


# -- clean ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["ten days", "5x", "", "-5d", "30", "d", "1.5d", "30 days"])
def test_clean_bad_duration_shows_a_good_one(clinvk, bad):
    rec = add(clinvk, age=timedelta(days=400))
    result = clinvk.run("sessions", "clean", f"--older-than={bad}")
    assert_clean_error(result, 2, "duration")
    assert re.search(r"e\.g\. .*30d", result.err), result.err
    assert path_of(clinvk, rec).exists()


def test_clean_dry_run_removes_nothing_and_reports(clinvk):
    no_auto_clean(clinvk)
    old = [add(clinvk, age=timedelta(days=d)) for d in (40, 50)]
    add(clinvk, age=timedelta(days=1))
    before = files_on_disk(clinvk)
    result = clinvk.run("sessions", "clean", "--older-than", "30d", "--dry-run")
    assert result.code == 0, result.err
    assert "would remove 2 session(s)" in result.out
    assert files_on_disk(clinvk) == before
    report = clinvk.run("sessions", "clean", "--older-than", "30d", "--dry-run", "--json").json()
    assert report["dry_run"] is True and report["removed"] == 2
    assert {r["id"] for r in report["sessions"]} == {r["id"] for r in old}
    assert report["bytes_freed"] == sum(path_of(clinvk, r).stat().st_size for r in old)
    assert files_on_disk(clinvk) == before
    done = clinvk.run("sessions", "clean", "--older-than", "30d")
    assert done.code == 0 and "removed 2 session(s)" in done.out
    assert len(files_on_disk(clinvk)) == 1


def test_clean_defaults_to_retention_days(clinvk):
    no_auto_clean(clinvk, "  retention_days: 7\n")
    add(clinvk, age=timedelta(days=8))
    keep = add(clinvk, age=timedelta(days=6))
    result = clinvk.run("sessions", "clean")
    assert result.code == 0 and "removed 1 session(s)" in result.out
    assert set(files_on_disk(clinvk)) == {keep["id"]}


def test_retention_zero_keeps_everything(clinvk):
    clinvk.config("session:\n  retention_days: 0\n")  # auto_clean stays on
    recs = [add(clinvk, age=timedelta(days=d)) for d in (1, 400, 4000)]
    result = clinvk.run("sessions", "clean")
    assert result.code == 0, result.err
    assert "kept forever" in result.out
    report = clinvk.run("sessions", "clean", "--json").json()
    assert report["removed"] == 0
    assert clinvk.run("sessions", "list").code == 0
    assert set(files_on_disk(clinvk)) == {r["id"] for r in recs}


# -- the daily automatic clean ----------------------------------------------------------------
def test_auto_clean_runs_once_a_day_from_any_command(clinvk):
    clinvk.hold_daily_clean = False
    old = add(clinvk, age=timedelta(days=31))  # default retention: 30 days, auto_clean on
    keep = add(clinvk, age=timedelta(days=29))
    stamp = clean_stamp_path(clinvk.home)
    assert not stamp.exists()
    assert clinvk.run("sessions", "list").code == 0
    assert set(files_on_disk(clinvk)) == {keep["id"]}
    assert stamp.exists()
    later = add(clinvk, age=timedelta(days=45))
    assert clinvk.run("sessions", "list").code == 0
    assert later["id"] in files_on_disk(clinvk)  # not again within a day
    day_ago = time.time() - 86400 - 60
    os.utime(stamp, (day_ago, day_ago))
    assert clinvk.run("sessions", "show", keep["id"]).code == 0  # any command
    assert set(files_on_disk(clinvk)) == {keep["id"]}
    assert old["id"] not in files_on_disk(clinvk)


def test_auto_clean_off(clinvk):
    clinvk.hold_daily_clean = False
    no_auto_clean(clinvk)
    recs = [add(clinvk, age=timedelta(days=d)) for d in (1, 400)]
    assert clinvk.run("sessions", "list").code == 0
    assert set(files_on_disk(clinvk)) == {r["id"] for r in recs}
    assert not clean_stamp_path(clinvk.home).exists()


def test_auto_clean_skipped_after_a_failed_command(clinvk):
    clinvk.hold_daily_clean = False
    old = add(clinvk, age=timedelta(days=400))
    assert clinvk.run("sessions", "show", "beef").code == 2
    assert path_of(clinvk, old).exists()


# -- a damaged store -----------------------------------------------------------------------------
def test_bad_files_are_skipped_with_one_warning_each(clinvk, tmp_path):
    good = add(clinvk)
    folder = path_of(clinvk, good).parent
    bad = {
        "damaged": (folder / ("1" * 32 + ".json"), '{"schema_version": 1, "id": '),
        "empty": (folder / ("2" * 32 + ".json"), ""),
        "foreign json": (folder / ("3" * 32 + ".json"), '{"hello": "world"}'),
        "foreign file": (folder / "notes.txt", "shopping list\n"),
        "wrong id": (folder / ("4" * 32 + ".json"), path_of(clinvk, good).read_text()),
    }
    for path, text in bad.values():
        path.write_text(text)
    outside = tmp_path / "elsewhere.json"
    twin = dict(good, id="5" * 32)
    outside.write_text(json.dumps(twin))
    link = folder / ("5" * 32 + ".json")
    link.symlink_to(outside)
    stray = clinvk.home / "sessions" / "stray.json"
    stray.write_text("{}")
    names = [p.name for p, _ in bad.values()] + [link.name, stray.name]
    for _ in range(2):  # first run builds the index, the second reads it: same warnings
        result = clinvk.run("sessions", "list")
        assert result.code == 0, result.err
        assert good["id"][:8] in result.out and len(result.out.splitlines()) == 2
        assert "Traceback" not in result.err
        warnings = [line for line in result.err.splitlines() if line.startswith("clinvk: warning:")]
        assert len(warnings) == len(names), result.err
        for name in names:
            assert sum(name in w for w in warnings) == 1, (name, result.err)
        assert any("symbolic link" in w for w in warnings)
    listed = clinvk.run("sessions", "list", "--json")
    assert listed.code == 0 and [r["id"] for r in listed.json()] == [good["id"]]
    shown = clinvk.run("sessions", "show", good["id"][:8])
    assert shown.code == 0 and good["id"] in shown.out
    assert outside.exists() and link.is_symlink()  # never followed, never removed


def test_a_file_changed_behind_the_index_is_seen(clinvk):
    rec = add(clinvk, prompt="before")
    assert clinvk.run("sessions", "list").code == 0  # index built
    path = path_of(clinvk, rec)
    data = json.loads(path.read_text())
    data["title"] = "after"
    path.write_text(json.dumps(data))
    assert clinvk.run("sessions", "list", "--json").json()[0]["title"] == "after"
    path.write_text("garbage")
    result = clinvk.run("sessions", "list", "--json")
    assert result.code == 0 and result.json() == []
    assert result.err.count("clinvk: warning:") == 1 and path.name in result.err


# -- an unusable $CLINVK_HOME ---------------------------------------------------------------------
@pytest.mark.parametrize("args", [["sessions", "list"], ["sessions", "list", "--json"],
                                  ["sessions", "show", "abcd"], ["sessions", "delete", "-y", "abcd"],
                                  ["sessions", "clean", "--older-than", "1d"],
                                  ["sessions", "clean", "--dry-run"]])
def test_home_that_is_a_file(clinvk, tmp_path, args):
    home = tmp_path / "not-a-folder"
    home.write_text("x")
    result = clinvk.run(*args, env={"CLINVK_HOME": str(home)})
    assert_clean_error(result, 2, str(home))
    assert home.read_text() == "x"


@pytest.mark.parametrize("kind", ["file", "dangling symlink"])
@pytest.mark.parametrize("args", [["sessions", "list"], ["sessions", "list", "--json"],
                                  ["sessions", "show", "abcd"], ["sessions", "delete", "-y", "abcd"],
                                  ["sessions", "clean", "--older-than", "1d"],
                                  ["sessions", "clean", "--dry-run"], ["sessions", "clean"]])
def test_sessions_that_is_not_a_folder(clinvk, tmp_path, args, kind):
    clinvk.home.mkdir()
    sessions = clinvk.home / "sessions"
    if kind == "file":
        sessions.write_text("x")
    else:
        sessions.symlink_to(tmp_path / "nowhere")
    result = clinvk.run(*args)
    assert_clean_error(result, 2, str(sessions), "not a folder")
    assert sessions.is_symlink() or sessions.read_text() == "x"


@pytest.mark.parametrize("args", [["sessions", "list"], ["sessions", "show", "abcd"],
                                  ["sessions", "clean", "--older-than", "1d"]])
def test_unreadable_sessions_folder(clinvk, args):
    if os.geteuid() == 0:
        pytest.skip("root reads any folder")
    rec = add(clinvk)
    sessions = clinvk.home / "sessions"
    os.chmod(sessions, 0)
    try:
        result = clinvk.run(*args)
    finally:
        os.chmod(sessions, 0o700)
    assert_clean_error(result, 2, "permission denied")
    assert path_of(clinvk, rec).exists()


# -- `clinvk --help` lists the commands without importing them ------------------------------------
def test_root_help_short_texts_match_the_commands():
    from clinvk.cli import SHORT_HELP, SUBCOMMANDS
    from clinvk.lazy_group import load as _load

    assert set(SHORT_HELP) <= set(SUBCOMMANDS)
    for name, spec in SUBCOMMANDS.items():
        if name in SHORT_HELP:
            assert SHORT_HELP[name] == _load(spec).get_short_help_str(1000), name


def test_root_help_imports_no_command_module():
    import subprocess
    import sys

    code = ("import sys, io, contextlib\nfrom clinvk.launch import run_cli\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out: run_cli(['--help'])\n"
            "assert 'sessions' in out.getvalue()\n"
            "print(sorted(m for m in sys.modules if m.startswith('clinvk.commands.') "
            "and m != 'clinvk.commands.run' or m in ('subprocess', 'json', 'sqlite3', "
            "'yaml', 'humanize', 'pexpect', 'ptyprocess')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "CLINVK_HOME": "/nonexistent/x"})
    assert done.stdout.strip() == "[]", done.stdout


# -- `clinvk sessions --help` lists its subcommands without importing them -------------------------
def test_sessions_help_short_texts_match_the_commands():
    from clinvk.commands.sessions import LAZY, SUMMARIES, sessions
    from clinvk.lazy_group import load

    assert set(SUMMARIES) == set(LAZY) and not set(LAZY) & set(sessions.commands)
    for name, spec in LAZY.items():
        assert SUMMARIES[name] == load(spec).get_short_help_str(1000), name


def test_sessions_help_imports_no_subcommand_module():
    import subprocess
    import sys

    code = ("import sys, io, contextlib\nfrom clinvk.launch import run_cli\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out: run_cli(['sessions', '--help'])\n"
            "assert 'search ' in out.getvalue() and 'stats ' in out.getvalue()\n"
            "print(sorted(m for m in sys.modules if m.startswith(('clinvk.commands.search_cmd', "
            "'clinvk.commands.stats_cmd', 'clinvk.commands.organise', 'clinvk.commands.transfer', "
            "'clinvk.transcripts', 'clinvk.stats', 'clinvk.bundle', 'clinvk.backends')) "
            "or m in ('sqlite3', 'yaml', 'humanize', 'pexpect', 'ptyprocess')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "CLINVK_HOME": "/nonexistent/x"})
    assert done.stdout.strip() == "[]", done.stdout

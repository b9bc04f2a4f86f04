"""Progress on stderr for long work: the rendering (rate, time left, throttling, clearing)
with a fake clock and a fake terminal, and end to end through the CLI: a first index build,
clean, export and import print a progress line on a terminal stderr and nothing elsewhere."""

from __future__ import annotations

import io
import json
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cli_harness import MockEnvironment, run_cli

import clinvk.progress as progress_mod
from clinvk.paths import index_path
from clinvk.progress import Progress, render, wanted
from clinvk.store import dirkey
from clinvk.store import session as S
from clinvk.store.index import remove_database


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- rendering ------------------------------------------------------------------------
def test_render_count_rate_and_time_left() -> None:
    assert render("indexing sessions", 12345, 100000, 3.0) == \
        "indexing sessions: 12,345/100,000 (4,115/s, 21 s left)"
    assert render("reading sessions", 500, None, 2.0) == "reading sessions: 500 (250/s)"
    assert render("x", 10, 100000, 1.0).endswith("(10/s, 2 h 46 min left)")
    assert render("x", 100, 10000, 1.0).endswith("(100/s, 1 min 39 s left)")
    assert render("x", 0, 10, 0.0) == "x: 0/10 (0/s)"


def test_nothing_before_the_delay_then_redrawn_in_place_and_cleared() -> None:
    clock, out = FakeClock(), FakeTty()
    with Progress(out, "work", total=1000, clock=clock) as progress:
        for done in range(1, 101):  # 100 items in 0.4 s: quick work shows nothing
            clock.now += 0.004
            progress.update(done)
        assert out.getvalue() == ""
        for done in range(101, 401):  # then 300 more in 1.2 s
            clock.now += 0.004
            progress.update(done)
        shown = out.getvalue()
        assert shown.startswith("\rwork: ")
        assert "(250/s, " in shown and " s left)" in shown
        assert "\n" not in shown
    text = out.getvalue()
    last = text[len(shown):]
    width = max(len(part) for part in shown.split("\r"))
    assert last == "\r" + " " * width + "\r"  # cleared, the cursor back at the start


def test_redraws_at_most_ten_times_a_second() -> None:
    clock, out = FakeClock(), FakeTty()
    progress = Progress(out, "work", total=100000, clock=clock)
    for done in range(1, 30001):  # 3 s at 10,000 items a second
        clock.now += 0.0001
        progress.update(done)
    draws = out.getvalue().count("\r")
    assert 20 <= draws <= 26  # 2.5 s after the delay, every 0.1 s
    progress.finish()


def test_the_clock_is_read_every_so_many_items_only() -> None:
    reads = []
    clock = FakeClock()

    def counting() -> float:
        reads.append(1)
        clock.now += 0.00001  # 100,000 items a second
        return clock.now

    progress = Progress(FakeTty(), "work", total=10**6, clock=counting)
    for done in range(1, 100001):
        progress.update(done)
    assert len(reads) < 2000  # not one per item


def test_a_shorter_line_wipes_the_longer_one() -> None:
    clock, out = FakeClock(), FakeTty()
    progress = Progress(out, "w", clock=clock, delay=0, interval=0)
    clock.now += 1
    progress.update(1000000)
    clock.now += 1000
    progress.update(1020001)  # past the next clock read
    first, second = out.getvalue().split("\r")[1:]
    assert len(second) == len(first)
    assert second.rstrip() != second


def test_disabled_draws_nothing() -> None:
    clock, out = FakeClock(), FakeTty()
    with Progress(out, "work", clock=clock, enabled=False, delay=0) as progress:
        clock.now += 5
        progress.update(10)
    assert out.getvalue() == ""


def test_wanted_only_on_a_terminal_without_opt_out() -> None:
    assert wanted(FakeTty(), {})
    assert wanted(FakeTty(), {"CLINVK_NO_PROGRESS": "0"})
    assert not wanted(io.StringIO(), {})
    assert not wanted(FakeTty(), {"CLINVK_NO_PROGRESS": "1"})
    assert not wanted(FakeTty(), {}, configured=False)


# -- end to end -----------------------------------------------------------------------
NOW = datetime.now(timezone.utc)


def write_sessions(home: Path, n: int, days_old: int = 0) -> list[str]:
    """n session files written directly in the store's format (as bench/store_bench.py)."""
    template = S.new_session("claude", "/w/progress", title="progress",
                             now=NOW - timedelta(days=days_old))
    folder = home / "sessions" / dirkey("/w/progress")
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for _ in range(n):
        sid = uuid.uuid4().hex
        data = json.dumps({**template, "id": sid}, indent=2) + "\n"
        (folder / f"{sid}.json").write_text(data)
        made.append(sid)
    return made


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Draw from the first item and at every clock read (the work here lasts well under the
    0.5 s a real command waits before it shows anything)."""
    monkeypatch.setattr(progress_mod, "DELAY", 0.0)
    monkeypatch.setattr(progress_mod, "INTERVAL", 0.0)


def cli(home: Path, *args: str, tty: bool, environ: dict[str, str] | None = None,
        cwd: Path | None = None) -> tuple[int, str, str]:
    env = MockEnvironment(environ={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                   "HOME": str(home.parent / "user"), "LANG": "C.UTF-8",
                                   **(environ or {})}, home=home, cwd=cwd or home.parent)
    if tty:
        err = env.stderr

        class TtyWrapper(io.TextIOWrapper):
            def isatty(self) -> bool:
                return True

        env.stderr = TtyWrapper(err.buffer, encoding="utf-8", errors="backslashreplace",
                                write_through=True)
    result = run_cli(list(args), env)
    env.stderr.flush()
    return result.code, result.out, env.err_bytes.decode()


def progress_lines(err: str, label: str) -> list[str]:
    return [part for part in err.split("\r") if part.startswith(label + ": ")]


def assert_cleared(err: str, label: str) -> None:
    """The last progress line was wiped: blanks over it and the cursor back at the start,
    before whatever stderr shows next."""
    last = progress_lines(err, label)[-1]
    tail = err[err.rindex(last) + len(last):]
    assert tail.startswith("\r")
    blank, _rest = tail[1:].split("\r", 1)
    assert blank.strip() == "" and len(blank) >= len(last)


@pytest.mark.usefixtures("quick")
def test_first_index_build_shows_progress_on_a_terminal_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "user").mkdir()
    write_sessions(home, 2000)
    code, out, err = cli(home, "sessions", "list", "-n", "1", tty=True)
    assert code == 0 and out
    lines = progress_lines(err, "indexing sessions")
    assert lines and lines[-1].startswith("indexing sessions: ")
    assert any("/2,000 (" in line for line in lines)
    assert any("s left)" in line for line in lines)
    assert_cleared(err, "indexing sessions")
    reading = progress_lines(err, "reading sessions")  # the files read, then indexed
    assert any("/2,000 (" in line for line in reading)
    assert_cleared(err, "reading sessions")
    assert err.index("reading sessions") < err.index("indexing sessions")
    remove_database(index_path(home))  # a first build again, now into a pipe
    code, out, err = cli(home, "sessions", "list", "-n", "1", tty=False)
    assert code == 0 and out and "\r" not in err and "indexing" not in err


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize("how", [{"CLINVK_NO_PROGRESS": "1"}, "--json", "config"])
def test_opt_outs_show_nothing(tmp_path: Path, how: object) -> None:
    home = tmp_path / "home"
    (tmp_path / "user").mkdir()
    write_sessions(home, 200)
    args = ["sessions", "list", "-n", "1"]
    environ = how if isinstance(how, dict) else None
    if how == "--json":
        args.append("--json")
    if how == "config":
        (home / "config.yaml").write_text("output:\n  progress: false\n")
    code, out, err = cli(home, *args, tty=True, environ=environ)
    assert code == 0 and out and "\r" not in err and "indexing" not in err


def test_progress_key_is_validated(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "user").mkdir()
    (home / "config.yaml").write_text("output:\n  progress: maybe\n")
    code, _out, err = cli(home, "sessions", "list", tty=False)
    assert code == 2 and "output.progress" in err


@pytest.mark.usefixtures("quick")
def test_clean_export_import_show_progress_on_a_terminal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "user").mkdir()
    write_sessions(home, 150, days_old=60)
    (home / "config.yaml").write_text("session:\n  auto_clean: false\n")
    cli(home, "sessions", "list", tty=False)  # the index built, quietly
    bundle = tmp_path / "bundle.json"
    code, _out, err = cli(home, "sessions", "export", "--all", "--no-transcript",
                          "-o", str(bundle), tty=True)
    assert code == 0
    assert any("/150 (" in line for line in progress_lines(err, "exporting sessions"))
    assert_cleared(err, "exporting sessions")
    assert err.endswith("exported 150 session(s) to " + str(bundle) + "\n")
    code, _out, err = cli(home, "sessions", "export", "--all", "--format", "markdown",
                          "-o", str(tmp_path / "all.md"), tty=False)
    assert code == 0 and "\r" not in err

    code, _out, err = cli(home, "sessions", "clean", "--older-than", "30d", tty=True)
    assert code == 0
    assert any("/150 (" in line for line in progress_lines(err, "cleaning sessions"))
    assert_cleared(err, "cleaning sessions")
    assert not list((home / "sessions").glob("*/*.json"))

    code, out, err = cli(home, "sessions", "import", str(bundle), tty=True)
    assert code == 0 and out.count("imported ") == 150
    assert any("/150 (" in line for line in progress_lines(err, "importing sessions"))
    assert progress_lines(err, "reading sessions")
    assert_cleared(err, "reading sessions")
    assert_cleared(err, "importing sessions")

    home2 = tmp_path / "home2"
    home2.mkdir()
    (home2 / "config.yaml").write_text("session:\n  auto_clean: false\n")
    code, out, err = cli(home2, "sessions", "import", str(bundle), tty=False)
    assert code == 0 and out.count("imported ") == 150 and err == ""
    code, out, err = cli(home2, "sessions", "clean", "--older-than", "30d", "--json", tty=True)
    assert code == 0 and json.loads(out)["removed"] == 150 and err == ""


def test_the_clear_blanks_a_padded_line_whole() -> None:
    """A shorter line is padded over a longer one; the clear then blanks the padding too
    (found by a CI run: '… 10 s left)' then '… 0 s left) ' left one column)."""
    import io

    from clinvk.progress import Progress

    out = io.StringIO()
    ticks = iter(range(100))
    bar = Progress(out, "work", total=None, clock=lambda: float(next(ticks)), delay=0, interval=0)
    bar._draw("work: a longer line")
    bar._draw("work: short")
    bar.finish()
    drawn = out.getvalue().split("\r")
    assert drawn[-2].strip() == "" and len(drawn[-2]) >= len(drawn[-3]) == len("work: a longer line")


@pytest.mark.usefixtures("quick")
@pytest.mark.parametrize("how", ["flag", "config", "none"])
def test_a_json_turn_draws_no_progress(tmp_path: Path, how: str) -> None:
    """A turn whose output is JSON, by `-o json` or by the config's `output.format`, draws
    no progress line (a first index build of many sessions would), as `--json` does."""
    from conftest import FAKE_CLI

    home = tmp_path / "home"
    (tmp_path / "user").mkdir()
    write_sessions(home, 300)
    config = f"backends:\n  fake:\n    adapter: claude\n    command: {FAKE_CLI}\n"
    if how == "config":
        config += "output:\n  format: json\n"
    (home / "config.yaml").write_text(config)
    args = ["-b", "fake", *(["-o", "json"] if how == "flag" else []), "hello"]
    code, out, err = cli(home, *args, tty=True)
    assert code == 0, err
    if how == "none":  # the test can fail: a text turn does draw it
        assert "indexing sessions: " in err
    else:
        assert json.loads(out)["exit_code"] == 0
        assert "\r" not in err and "indexing" not in err, err

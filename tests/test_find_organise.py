"""Finding and organising sessions: list's filters and sort, `sessions search`, tag/untag/
rename/meta, through the entry point; concurrency through the store API."""

from __future__ import annotations

import multiprocessing
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import assert_clean_error
from hypothesis import given
from hypothesis import strategies as st

from clinvk.clock import format_rfc3339, utc_now
from clinvk.durations import parse_when
from clinvk.errors import UsageError
from clinvk.filters import parse_until
from clinvk.store import SessionStore
from clinvk.store.session import add_turn, new_session

SAMPLE = Path(__file__).resolve().parent / "samples" / "stores" / "claude-projects-transcript.jsonl"
CLAUDE_SID = "8b9a0c36-b6a5-42b0-a483-53e93009ce30"
NOW = utc_now()


def make(store: SessionStore, *, backend: str = "claude", wdir: str = "/w/a", title: str = "",
         prompts: tuple[str, ...] = ("hello",), tags: tuple[str, ...] = (),
         meta: dict | None = None, age: timedelta = timedelta(0), tokens: int = 10,
         model: str | None = "m1", bsid: str | None = "b-1") -> dict:
    start = NOW - age
    record = new_session(backend, wdir, model=model, title=title or None, tags=tags,
                         metadata=meta, now=start - timedelta(minutes=len(prompts)),
                         backend_session_id=bsid)
    for n, prompt in enumerate(prompts):
        add_turn(record, prompt=prompt, duration_ms=1000 * (n + 1), exit_code=0,
                 usage={"input_tokens": tokens, "output_tokens": 1},
                 at=start - timedelta(minutes=len(prompts) - n - 1))
    return store.create(record)


@pytest.fixture
def home(clinvk):
    clinvk.config("session:\n  auto_clean: false\n")
    clinvk.store = SessionStore(clinvk.home)
    return clinvk


def ids(result) -> list[str]:
    assert result.code == 0, result.err
    return [r["id"] for r in result.json()]


def test_each_filter_narrows_and_they_combine(home):
    s = home.store
    a = make(s, title="alpha parser", tags=("review", "bug"), meta={"ticket": "ABC-1"},
             age=timedelta(days=1))
    b = make(s, title="beta", prompts=("fix the Parser please",), tags=("review",),
             age=timedelta(days=10), wdir="/w/b")
    c = make(s, title="gamma", tags=("bug",), meta={"ticket": "XYZ-9"}, age=timedelta(days=40),
             backend="codex")
    run = home.run
    assert ids(run("sessions", "list", "--json", "--tag", "review")) == [a["id"], b["id"]]
    assert ids(run("sessions", "list", "--json", "--tag", "review", "--tag", "bug")) == [a["id"]]
    assert ids(run("sessions", "list", "--json", "--since", "7d")) == [a["id"]]
    assert ids(run("sessions", "list", "--json", "--until", "7d")) == [b["id"], c["id"]]
    day = format_rfc3339(NOW - timedelta(days=10))[:10]
    assert ids(run("sessions", "list", "--json", "--since", day, "--until", day)) == [b["id"]]
    stamp = format_rfc3339(NOW - timedelta(days=20))
    assert ids(run("sessions", "list", "--json", "--until", stamp)) == [c["id"]]
    assert ids(run("sessions", "list", "--json", "--search", "PARSER")) == [a["id"], b["id"]]
    assert ids(run("sessions", "list", "--json", "--search", "xyz-9")) == [c["id"]]
    assert ids(run("sessions", "list", "--json", "--meta", "ticket=ABC-1")) == [a["id"]]
    assert ids(run("sessions", "list", "--json", "--tag", "bug", "--since", "30d",
                   "--search", "alpha", "--meta", "ticket=ABC-1", "-b", "claude")) == [a["id"]]
    assert ids(run("sessions", "list", "--json", "--tag", "bug", "-b", "claude", "--since",
                   "5d", "--search", "beta")) == []
    text = run("sessions", "list", "--tag", "bug")
    assert text.code == 0 and "alpha parser" in text.out and "gamma" in text.out
    assert "beta" not in text.out


def test_sort_keys_and_reverse(home):
    s = home.store
    a = make(s, title="Banana", prompts=("1", "2", "3"), tokens=5, age=timedelta(hours=1))
    b = make(s, title="apple", prompts=("1",), tokens=500, age=timedelta(hours=3))
    c = make(s, title="cherry", prompts=("1", "2"), tokens=50, age=timedelta(hours=2))
    run = home.run
    assert ids(run("sessions", "list", "--json")) == [a["id"], c["id"], b["id"]]
    assert ids(run("sessions", "list", "--json", "--reverse")) == [b["id"], c["id"], a["id"]]
    assert ids(run("sessions", "list", "--json", "--sort", "title")) == [b["id"], a["id"], c["id"]]
    assert ids(run("sessions", "list", "--json", "--sort", "turns")) == [a["id"], c["id"], b["id"]]
    assert ids(run("sessions", "list", "--json", "--sort", "tokens")) == [b["id"], c["id"], a["id"]]
    assert ids(run("sessions", "list", "--json", "--sort", "tokens", "--reverse")) == [
        a["id"], c["id"], b["id"]]
    assert ids(run("sessions", "list", "--json", "--sort", "created")) == [a["id"], c["id"], b["id"]]
    assert ids(run("sessions", "list", "--json", "--sort", "title", "-n", "1")) == [b["id"]]


@pytest.mark.parametrize("args,needle", [
    (("--since", "yesterday"), "2026-11-01"),
    (("--until", "2026-13-45"), "7d"),
    (("--since", "7x"), "RFC 3339"),
    (("--sort", "size"), "--sort tokens"),
    (("--meta", "novalue"), "KEY=VALUE"),
])
def test_bad_values_exit_2_with_an_example(home, args, needle):
    make(home.store, title="x")
    for command in ("list", "search"):
        extra = ("word",) if command == "search" else ()
        assert_clean_error(home.run("sessions", command, *extra, *args), 2, needle)


def test_search_by_title_prompt_tag_and_metadata(home):
    s = home.store
    t = make(s, title="Refactor the tokenizer", prompts=("go",), age=timedelta(hours=4))
    p = make(s, title="other", prompts=("first", "why does the TOKENIZER crash on emoji?"),
             age=timedelta(hours=3))
    g = make(s, title="third", tags=("tokenizer-work",), age=timedelta(hours=2))
    m = make(s, title="fourth", meta={"area": "tokenizer"}, age=timedelta(hours=1))
    make(s, title="unrelated")
    result = home.run("sessions", "search", "tokenizer", "--json")
    assert result.code == 0, result.err
    found = {r["id"]: r["match"] for r in result.json()}
    assert list(found) == [m["id"], g["id"], p["id"], t["id"]]
    assert found[t["id"]] == {"field": "title", "snippet": "Refactor the tokenizer"}
    assert found[p["id"]]["field"] == "prompt"
    assert found[p["id"]]["snippet"] == "why does the TOKENIZER crash on emoji?"
    assert found[g["id"]] == {"field": "tag", "snippet": "tokenizer-work"}
    assert found[m["id"]] == {"field": "metadata", "snippet": "area=tokenizer"}
    text = home.run("sessions", "search", "tokenizer", "-n", "2")
    assert text.code == 0 and text.out.count("\n") == 4
    assert "metadata: area=tokenizer" in text.out and "tag: tokenizer-work" in text.out
    narrowed = home.run("sessions", "search", "tokenizer", "--json", "--tag", "tokenizer-work")
    assert ids(narrowed) == [g["id"]]
    none = home.run("sessions", "search", "nothing-like-this")
    assert none.code == 0 and none.out == "" and "no sessions match" in none.err


def test_search_snippet_is_cut_around_the_match(home):
    words = " ".join(f"w{n}" for n in range(25))  # prompts keep 200 characters
    make(home.store, title="t", prompts=(f"{words} NEEDLE {words}",))
    [hit] = home.run("sessions", "search", "needle", "--json").json()
    snippet = hit["match"]["snippet"]
    assert "NEEDLE" in snippet and snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) <= 100


def test_search_transcripts_finds_words_only_in_the_backend_store(home, tmp_path):
    wdir = str(tmp_path / "proj")
    record = make(home.store, title="first prompt", prompts=("first prompt",), wdir=wdir,
                  bsid=CLAUDE_SID)
    make(home.store, title="no transcript", bsid="0b9a0c36-b6a5-42b0-a483-53e93009ce30")
    from clinvk.backends.claude_store import project_dir_name

    folder = home.user_home / ".claude" / "projects" / project_dir_name(wdir)
    folder.mkdir(parents=True)
    shutil.copy(SAMPLE, folder / f"{CLAUDE_SID}.jsonl")
    assert home.run("sessions", "search", "claude reply", "--json").json() == []
    result = home.run("sessions", "search", "claude reply", "--transcripts", "--json")
    assert result.code == 0, result.err
    [hit] = result.json()
    assert hit["id"] == record["id"]
    assert hit["match"] == {"field": "transcript", "snippet": "MOCK CLAUDE REPLY to 2 messages."}
    assert "could not be read" in result.err  # the session whose transcript is missing
    text = home.run("sessions", "search", "mock claude", "--transcripts")
    assert "transcript: MOCK CLAUDE REPLY" in text.out


def test_tag_untag_rename_meta_show_in_list_and_search(home):
    record = make(home.store, title="old title", tags=("keep",))
    sid, short = record["id"], record["id"][:6]
    run = home.run
    out = run("sessions", "tag", short, "urgent", "later", "keep")
    assert out.code == 0 and "keep, urgent, later" in out.out
    assert ids(run("sessions", "list", "--json", "--tag", "urgent", "--tag", "later")) == [sid]
    assert run("sessions", "untag", short, "later", "never-there").code == 0
    assert ids(run("sessions", "list", "--json", "--tag", "later")) == []
    assert run("sessions", "rename", short, "Shiny", "new", "name").code == 0
    assert ids(run("sessions", "search", "shiny new", "--json")) == [sid]
    assert ids(run("sessions", "list", "--json", "--search", "old title")) == []
    assert run("sessions", "meta", short, "ticket", "ABC-12").code == 0
    assert run("sessions", "meta", short, "owner", "ana").code == 0
    shown = run("sessions", "meta", short)
    assert shown.out == "owner=ana\nticket=ABC-12\n"
    assert run("sessions", "meta", short, "--json").json() == {"ticket": "ABC-12", "owner": "ana"}
    assert ids(run("sessions", "list", "--json", "--meta", "ticket=ABC-12")) == [sid]
    assert run("sessions", "search", "abc-12", "--json").json()[0]["match"]["field"] == "metadata"
    assert run("sessions", "meta", short, "ticket", "--unset").code == 0
    assert ids(run("sessions", "list", "--json", "--meta", "ticket=ABC-12")) == []
    [final] = home.sessions()
    assert final["tags"] == ["keep", "urgent"] and final["title"] == "Shiny new name"
    assert final["metadata"] == {"owner": "ana"} and final["turns"] == record["turns"]


@pytest.mark.parametrize("args,needle", [
    (("meta", "{id}", "key"), "missing VALUE"),
    (("meta", "{id}", "key", "value", "--unset"), "--unset"),
    (("meta", "{id}", "a=b", "c"), "'=' is not allowed"),
    (("tag", "{id}", ""), "empty tag"),
    (("rename", "{id}", "  "), "empty title"),
    (("tag", "ffffffff", "x"), "no session matches"),
])
def test_organise_usage_errors(home, args, needle):
    sid = make(home.store)["id"]
    assert_clean_error(home.run("sessions", *(a.format(id=sid) for a in args)), 2, needle)


def _hammer(home: str, sid: str, who: str, count: int) -> None:
    from clinvk import organise

    store = SessionStore(Path(home))
    for n in range(count):
        organise.add_tags(store, sid, [f"{who}{n}"])
        if who == "a":
            organise.rename(store, sid, f"title {n}")
        else:
            organise.set_meta(store, sid, f"k{n}", str(n))
    store.close()


def test_two_processes_changing_one_session_lose_nothing(home):
    record = make(home.store, title="shared")
    home.store.close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hammer, args=(str(home.home), record["id"], who, 200))
             for who in ("a", "b")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(300)
        assert proc.exitcode == 0
    [final] = home.sessions()
    assert sorted(final["tags"]) == sorted([f"a{n}" for n in range(200)] + [f"b{n}" for n in range(200)])
    assert final["metadata"] == {f"k{n}": str(n) for n in range(200)}
    assert final["title"] == "title 199" and final["turns"] == record["turns"]
    assert ids(home.run("sessions", "list", "--json", "--tag", "a199", "--tag", "b199",
                        "--meta", "k199=199")) == [record["id"]]


# -- WHEN parsing -------------------------------------------------------------------------

moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                       timezones=st.just(timezone.utc)).map(lambda d: d.replace(microsecond=0))


@given(moments)
def test_when_rfc3339_round_trips(moment):
    assert parse_when(format_rfc3339(moment)) == moment
    offset = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert parse_when(offset.isoformat()) == moment


@given(moments)
def test_when_date_is_that_midnight_and_until_covers_the_day(moment):
    day = format_rfc3339(moment)[:10]
    start = parse_when(day)
    assert start == moment.replace(hour=0, minute=0, second=0)
    end = parse_until(day)
    assert start <= moment <= end and end - start == timedelta(days=1, microseconds=-1)


@given(st.integers(min_value=0, max_value=100_000), st.sampled_from("smhdw"), moments)
def test_when_duration_means_that_long_ago(n, unit, now):
    names = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    try:
        expected = now - timedelta(**{names[unit]: n})
    except OverflowError:
        return
    assert parse_when(f"{n}{unit}", now) == expected


@given(st.text(max_size=30))
def test_when_rejects_garbage_with_an_example(text):
    try:
        parse_when(text)
    except UsageError as exc:
        assert "2026-11-01" in exc.message and "7d" in exc.message

"""SessionFilter: list's options parsed once into one frozen value, the same for list, search,
stats and export, and what the index query makes of it."""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinvk.errors import UsageError
from clinvk.filters import (
    SORT_KEYS,
    STATUSES,
    SessionFilter,
    check_sort,
    parse_filter,
)
from clinvk.store import SessionStore
from clinvk.store.schema import ORDERS, micros, where
from clinvk.store.session import add_turn, new_session

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


# -- the value ---------------------------------------------------------------------------------

def test_no_options_is_every_session_newest_first():
    selection = parse_filter({})
    assert selection == SessionFilter() and not selection.narrows
    assert (selection.order, selection.reverse, selection.limit, selection.offset) == (
        "last_used", False, None, 0)
    assert where(selection) == ("", [])


def test_it_is_frozen_and_hashable():
    selection = SessionFilter(tags=("a",), meta={"k": "v"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        selection.backend = "codex"  # type: ignore[misc]
    assert hash(selection) == hash(SessionFilter(tags=["a"], meta=(("k", "v"),)))


def test_values_are_normalised_on_construction(tmp_path):
    selection = SessionFilter(working_dir=os.path.relpath(tmp_path), tags=["b", "a", "b"],
                              meta={"k": "v", "x": ""}, search="")
    assert selection.working_dir == str(tmp_path)
    assert selection.tags == ("b", "a")
    assert selection.meta == (("k", "v"), ("x", ""))
    assert selection.search is None
    assert SessionFilter(order="created_at").order == "created"  # the API's old spelling


def test_of_changes_fields_and_refuses_unknown_ones():
    base = SessionFilter(backend="codex", limit=5)
    assert SessionFilter.of(base) is base
    assert SessionFilter.of(base, limit=None) == SessionFilter(backend="codex")
    assert SessionFilter.of(None, status="error") == SessionFilter(status="error")
    with pytest.raises(TypeError):
        SessionFilter.of(base, colour="red")


def test_an_unknown_order_is_a_usage_error():
    with pytest.raises(UsageError, match="invalid sort order 'bogus'"):
        SessionFilter(order="bogus")


@pytest.mark.parametrize("criterion", [
    {"backend": "codex"}, {"status": "error"}, {"working_dir": "/w"}, {"tags": ("t",)},
    {"since": NOW}, {"until": NOW}, {"search": "x"}, {"meta": {"k": "v"}}, {"resumable": False},
])
def test_each_criterion_narrows_and_order_or_limit_do_not(criterion):
    assert SessionFilter(**criterion).narrows
    assert not SessionFilter(order="tokens", reverse=True, limit=3, offset=1).narrows


def test_an_empty_text_narrows_nothing_as_on_the_command_line():
    """`sessions export -b ''` asks which sessions, and `stats -b ''` counts every session."""
    assert not SessionFilter(backend="", status="").narrows


# -- one definition of statuses and sort keys ---------------------------------------------------

def test_statuses_and_sort_keys_are_defined_once():
    import clinvk.commands.list_filters as list_filters
    import clinvk.store.record_check as record_check
    import clinvk.store.session as session

    assert STATUSES is record_check.STATUSES is session.STATUSES is list_filters.STATUSES
    assert tuple(ORDERS) == SORT_KEYS


def test_sort_options_offer_the_sort_keys():
    from clinvk.commands.sessions import list_cmd

    [sort] = [p for p in list_cmd.params if p.name == "sort"]
    assert "last_used, created, title, turns or tokens" in sort.help
    [status] = [p for p in list_cmd.params if p.name == "status"]
    assert tuple(status.type.choices) == STATUSES


@pytest.mark.parametrize("key", SORT_KEYS)
def test_check_sort_takes_each_key(key):
    assert check_sort(f" {key} ") == key
    assert parse_filter({"sort": key}).order == key


@pytest.mark.parametrize("bad", ["bogus", "created_at", "TITLE"])
def test_check_sort_refuses_others_with_an_example(bad):
    with pytest.raises(UsageError, match=r"invalid sort key .*\(e\.g\. --sort tokens\)"):
        parse_filter({"sort": bad})


# -- parsing the options -----------------------------------------------------------------------

@settings(max_examples=80, deadline=None)
@given(since=st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(UNITS))),
       until=st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(UNITS))))
def test_since_and_until_durations_mean_that_long_before_now(since, until):
    selection = parse_filter({"since": f"{since[0]}{since[1]}", "until": f" {until[0]} {until[1]}"},
                             now=NOW)
    assert selection.since == NOW - timedelta(**{UNITS[since[1]]: since[0]})
    assert selection.until == NOW - timedelta(**{UNITS[until[1]]: until[0]})
    clause, params = where(selection)
    assert clause == " WHERE last_used >= ? AND last_used <= ?"
    assert params == [micros(selection.since), micros(selection.until)]


@settings(max_examples=80, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 30),
                    timezones=st.just(timezone.utc)).map(lambda d: d.replace(microsecond=0)))
def test_timestamps_round_trip_and_a_bare_until_date_is_its_whole_day(moment):
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parse_filter({"since": stamp, "until": stamp}) == SessionFilter(since=moment, until=moment)
    day = moment.strftime("%Y-%m-%d")
    selection = parse_filter({"since": day, "until": day})
    midnight = moment.replace(hour=0, minute=0, second=0)
    assert selection.since == midnight
    assert selection.until == midnight + timedelta(days=1) - timedelta(microseconds=1)
    assert selection.since <= moment <= selection.until


@pytest.mark.parametrize("options, says", [
    ({"since": "yesterday"}, "(7d)"), ({"until": "2026-13-45"}, "(7d)"), ({"since": ""}, "(7d)"),
    ({"meta": ["novalue"]}, "KEY=VALUE"), ({"meta": ["=v"]}, "KEY=VALUE"),
])
def test_bad_values_are_usage_errors_with_an_example(options, says):
    with pytest.raises(UsageError) as info:
        parse_filter(options)
    assert says in info.value.message and info.value.exit_code == 2


def test_every_option_lands_in_its_field(tmp_path):
    options = {"backend": "codex", "status": "error", "here": True, "tags": ("a", "b", "a"),
               "search": "parser", "meta": ("k=v", "k=w", "x=a=b"), "sort": "tokens",
               "reverse": True, "limit": 7, "show_all": False}
    assert parse_filter(options, str(tmp_path)) == SessionFilter(
        backend="codex", status="error", working_dir=str(tmp_path), tags=("a", "b"),
        search="parser", meta={"k": "w", "x": "a=b"}, order="tokens", reverse=True, limit=7)
    assert parse_filter({**options, "show_all": True}, str(tmp_path)).limit is None
    assert parse_filter({**options, "here": False}, str(tmp_path)).working_dir is None


# -- the commands parse the same options into the same value -------------------------------------

_ARGS = st.lists(st.sampled_from([
    ["-b", "codex"], ["--backend", "claude"], ["--status", "error"], ["--status", "active"],
    ["--here"], ["-t", "work"], ["--tag", "x"], ["--since", "7d"], ["--since", "2026-11-01"],
    ["--until", "2026-11-01"], ["--until", "2026-11-01T12:00:00Z"], ["--meta", "k=v"],
    ["--search", "word"],
]), max_size=5).map(lambda parts: [arg for part in parts for arg in part])


def _parsed(command, argv: list[str]) -> SessionFilter:
    ctx = command.make_context(command.name, list(argv))
    return parse_filter(ctx.params, "/somewhere", now=NOW)


@settings(max_examples=60, deadline=None)
@given(_ARGS)
def test_list_export_stats_and_search_parse_one_filter(argv):
    from clinvk.commands.search_cmd import search
    from clinvk.commands.sessions import list_cmd
    from clinvk.commands.stats_cmd import stats
    from clinvk.commands.transfer import export_cmd

    listed = _parsed(list_cmd, [*argv, "--all"])
    assert _parsed(export_cmd, argv) == listed == _parsed(stats, argv)
    if "--search" not in argv:
        assert _parsed(search, ["q", *argv, "-n", "20"]) == SessionFilter.of(listed, limit=20)
    assert _parsed(list_cmd, argv) == SessionFilter.of(listed, limit=20)


# -- export selects what list lists ----------------------------------------------------------------

DAY = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
_SESSIONS = [  # backend, status, tags, last used
    ("claude", "active", ("work",), DAY),
    ("codex", "error", ("work", "x"), DAY - timedelta(days=1)),
    ("claude", "interrupted", (), DAY + timedelta(hours=11, minutes=59)),
    ("gemini", "active", ("x",), DAY + timedelta(days=1)),
    ("codex", "active", (), DAY - timedelta(days=30)),
]


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    from conftest import Clinvk

    clinvk = Clinvk(tmp_path_factory.mktemp("five"))
    clinvk.config("session:\n  auto_clean: false\n")
    store = SessionStore(clinvk.home)
    try:
        for n, (backend, status, tags, at) in enumerate(_SESSIONS):
            record = new_session(backend, f"/w/{n}", now=at - timedelta(hours=1), tags=tags,
                                 backend_session_id=f"b-{n}")
            add_turn(record, prompt=f"prompt {n}", duration_ms=10, exit_code=0, at=at,
                     status=status)
            store.create(record)
    finally:
        store.close()
    return clinvk


@pytest.mark.parametrize("options", [
    ["--until", "2026-11-01"],
    ["--since", "2026-11-01", "--until", "2026-11-01"],
    ["--until", "2026-10-31"],
    ["--since", "2026-11-02"],
    ["--until", "2026-11-01T12:00:00Z"],
    ["--status", "active", "--until", "2026-11-01"],
    ["--status", "error"],
    ["-b", "claude", "--since", "2026-11-01", "--until", "2026-11-01"],
    ["--backend", "codex", "--until", "2026-10-31"],
    ["-t", "work", "--until", "2026-11-01"],
    ["--tag", "x", "--since", "2026-10-31"],
    ["-t", "work", "-t", "x", "--status", "error", "-b", "codex"],
])
def test_export_selects_what_list_lists_for_the_same_options(five, options):
    listed = five.run("sessions", "list", "--all", "--json", *options)
    exported = five.run("sessions", "export", "--no-transcript", *options)
    assert listed.code == exported.code == 0, listed.err + exported.err
    want = [record["id"] for record in listed.json()]
    assert [entry["session"]["id"] for entry in exported.json()["sessions"]] == want


def test_the_whole_day_of_a_bare_until_date_is_listed_and_exported(five):
    """The difference export had before it took list's filters: `--until DATE` meant that
    day's midnight, leaving out the sessions used later that day."""
    listed = five.run("sessions", "list", "--all", "--json", "--since", "2026-11-01",
                      "--until", "2026-11-01")
    assert len(listed.json()) == 2


# -- the API takes the same value ----------------------------------------------------------------

def test_api_lists_and_exports_by_a_filter_or_its_fields(five, monkeypatch):
    import clinvk.api as api

    monkeypatch.setenv("CLINVK_HOME", str(five.home))
    monkeypatch.setenv("HOME", str(five.user_home))
    work = api.SessionFilter(tags=("work",))
    by_value = [r["id"] for r in api.list_sessions(work)]
    assert len(by_value) == 2
    assert [r["id"] for r in api.list_sessions(tags=["work"])] == by_value
    assert [r["id"] for r in api.list_sessions(work, limit=1)] == by_value[:1]
    bundle = api.export_sessions(selection=work, transcripts=False)
    assert [e["session"]["id"] for e in bundle["sessions"]] == by_value
    with pytest.raises(UsageError, match="unknown filter"):
        api.list_sessions(colour="red")
    with pytest.raises(UsageError, match="unknown filter"):
        api.export_sessions(colour="red")

"""`sessions stats`: totals equal the recorded figures to the token, grouped by backend,
model, day and dir; the per-turn table of one session; through the entry point."""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from datetime import timedelta

import pytest
from conftest import assert_clean_error
from hypothesis import given, settings
from hypothesis import strategies as st

from clinvk.clock import format_rfc3339, utc_now
from clinvk.stats import kth, percentile
from clinvk.store import SessionStore
from clinvk.store.session import USAGE_KEYS, add_turn, new_session

NOW = utc_now()


@pytest.fixture
def home(clinvk):
    clinvk.config("session:\n  auto_clean: false\n")
    clinvk.store = SessionStore(clinvk.home)
    return clinvk


def populate(store: SessionStore, n: int = 30, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    records = []
    for i in range(n):
        start = NOW - timedelta(days=rnd.randint(0, 4), minutes=rnd.randint(10, 600))
        record = new_session(rnd.choice(["claude", "codex", "gemini"]),
                             rnd.choice(["/w/a", "/w/b", "/w/c"]),
                             model=rnd.choice(["m1", "m2", None]), now=start)
        for t in range(rnd.randint(0, 4)):
            inp = rnd.randint(0, 10**7)
            add_turn(record, prompt=f"p{i}.{t}", duration_ms=rnd.randint(1, 10**6), exit_code=0,
                     usage={"input_tokens": inp, "cached_input_tokens": rnd.randint(0, inp),
                            "output_tokens": rnd.randint(0, 10**5),
                            "reasoning_tokens": rnd.randint(0, 100)},
                     cost_usd=rnd.choice([None, 0.125, 1.5]), at=start + timedelta(minutes=t))
        records.append(store.create(record))
    return records


def expected(records: list[dict]) -> dict:
    tokens = {k: sum((r.get("token_usage") or {}).get(k, 0) for r in records) for k in USAGE_KEYS}
    durations = sorted(t["duration_ms"] for r in records for t in r["turns"])
    costs = [r["cost_usd"] for r in records if r["cost_usd"] is not None]
    return {
        "sessions": len(records), "turns": sum(r["turn_count"] for r in records),
        "tokens": tokens,
        "cache_hit_ratio": (tokens["cached_input_tokens"] / tokens["input_tokens"]
                            if tokens["input_tokens"] else None),
        "duration_ms": {"median": statistics.median(durations) if durations else None,
                        "p95": percentile(durations, 0.95), "turns_timed": len(durations)},
        "cost_usd": round(sum(costs), 10) if costs else None, "cost_sessions": len(costs),
    }


def check(group: dict, records: list[dict]) -> None:
    want = expected(records)
    got = {k: v for k, v in group.items() if k != "key"}
    assert got.pop("cost_usd") == pytest.approx(want.pop("cost_usd"))
    assert got["cache_hit_ratio"] == pytest.approx(want.pop("cache_hit_ratio"))
    got.pop("cache_hit_ratio")
    assert got == want


def test_totals_equal_the_sum_over_sessions_to_the_token(home):
    records = populate(home.store)
    result = home.run("sessions", "stats", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["by"] is None and data["groups"] == []
    check(data["total"], records)
    assert data["total"]["tokens"]["total_tokens"] == sum(
        r["token_usage"]["total_tokens"] for r in records)


@pytest.mark.parametrize("by", ["backend", "model", "day", "dir"])
def test_grouping(home, by):
    records = populate(home.store, seed=hash(by) % 1000)
    keyed = defaultdict(list)
    for r in records:
        key = {"backend": r["backend"], "model": r["model"], "day": r["last_used"][:10],
               "dir": r["working_dir"]}[by]
        keyed[key].append(r)
    data = home.run("sessions", "stats", "--by", by, "--json").json()
    assert data["by"] == by
    assert {g["key"] for g in data["groups"]} == set(keyed)
    for group in data["groups"]:
        check(group, keyed[group["key"]])
    check(data["total"], records)
    if by == "day":
        assert [g["key"] for g in data["groups"]] == sorted(keyed)
    text = home.run("sessions", "stats", "--by", by)
    assert text.code == 0 and text.out.splitlines()[0].split()[0] == by.upper()
    total_line = text.out.splitlines()[-1]
    assert total_line.startswith("total") and f"{data['total']['tokens']['total_tokens']:,}" in total_line


def test_filters_narrow_the_figures(home):
    records = populate(home.store, n=20)
    since = format_rfc3339(NOW - timedelta(days=2))
    recent = [r for r in records if r["last_used"] >= since]
    data = home.run("sessions", "stats", "--since", "2d", "--json").json()
    check(data["total"], recent)
    claude = [r for r in records if r["backend"] == "claude"]
    check(home.run("sessions", "stats", "-b", "claude", "--json").json()["total"], claude)


def test_per_session_turn_table(home):
    record = new_session("claude", "/w/x", model="m9", title="table me", now=NOW - timedelta(hours=1))
    for n, (inp, cached, out) in enumerate([(1200, 1000, 30), (2_500_000, 2_000_000, 4000)]):
        add_turn(record, prompt=f"question {n}", duration_ms=1500 * (n + 1), exit_code=n,
                 usage={"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out},
                 cost_usd=0.5, at=NOW - timedelta(minutes=30 - n))
    home.store.create(record)
    data = home.run("sessions", "stats", record["id"][:6], "--json").json()
    assert [t["n"] for t in data["turns"]] == [1, 2]
    assert data["turns"][1]["usage"]["input_tokens"] == 2_500_000
    assert data["total"]["tokens"] == record["token_usage"]
    assert data["total"]["cost_usd"] == 1.0 and data["total"]["duration_ms"]["median"] == 2250
    text = home.run("sessions", "stats", record["id"][:6])
    assert text.code == 0
    lines = text.out.splitlines()
    assert "table me" in lines[0] and lines[1].split()[:2] == ["#", "AT"]
    assert "2,500,000" in lines[3] and "question 1" in lines[3] and "3.0s" in lines[3]
    assert "2,505,230 tokens" in lines[-1] and "cost $1.00" in lines[-1]


def test_real_turn_through_the_cli_is_counted(clinvk):
    clinvk.add_fake_backend("fake", FAKE_SESSION_ID="11111111-2222-3333-4444-555555555555")
    assert clinvk.run("-b", "fake", "say", "hi").code == 0
    assert clinvk.run("-b", "fake", "again").code == 0
    data = clinvk.run("sessions", "stats", "--by", "backend", "--json").json()
    [group] = data["groups"]
    assert group["key"] == "fake" and group["sessions"] == 2 and group["turns"] == 2
    assert group["tokens"]["total_tokens"] == 48 and group["tokens"]["cached_input_tokens"] == 10
    assert group["cache_hit_ratio"] == pytest.approx(10 / 34)


def test_bad_grouping_and_empty_store(home):
    assert_clean_error(home.run("sessions", "stats", "--by", "week"), 2, "--by backend")
    assert_clean_error(home.run("sessions", "stats", "--since", "soon"), 2, "7d")
    empty = home.run("sessions", "stats", "--json").json()
    assert empty["total"]["sessions"] == 0 and empty["total"]["tokens"]["total_tokens"] == 0
    assert home.run("sessions", "stats").code == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**9), max_size=200),
       st.floats(min_value=0.01, max_value=1.0))
def test_percentile_is_nearest_rank(values, fraction):
    ordered = sorted(values)
    got = percentile(ordered, fraction)
    if not ordered:
        assert got is None
        return
    below = sum(1 for v in ordered if v <= got)
    assert below >= fraction * len(ordered) - 1e-9
    assert sum(1 for v in ordered if v < got) < fraction * len(ordered) + 1e-9


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(min_value=0, max_value=10**7), max_size=40), min_size=1,
                max_size=5), st.data())
def test_kth_of_sorted_runs_equals_merged_sort(runs, data):
    runs = [sorted(r) for r in runs if r]
    merged = sorted(v for r in runs for v in r)
    if not merged:
        return
    k = data.draw(st.integers(min_value=1, max_value=len(merged)))
    assert kth(runs, k) == merged[k - 1]

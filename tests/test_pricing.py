"""The shipped pricing table and the cost estimate (issue 11, item 3): hand-computed examples,
cached tokens counted once, name normalisation, the config's `prices` overrides and their
validation through the CLI, and properties of the arithmetic."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import assert_clean_error
from hypothesis import given, settings
from hypothesis import strategies as st

from clinvk import config, pricing
from clinvk.pricing import estimate_cost, name_candidates, price_table, shipped_table


def usage(input=0, cached=0, created=0, output=0, reasoning=0) -> dict:
    """SPEC's normalised usage: input counts cached and created tokens; output counts reasoning."""
    return {"input_tokens": input, "cached_input_tokens": cached, "cache_creation_input_tokens": created,
            "output_tokens": output, "reasoning_tokens": reasoning, "total_tokens": input + output}


# --- the table -------------------------------------------------------------------------

def test_the_table_states_date_source_and_convention():
    data = json.loads((Path(pricing.__file__).parent / "prices.json").read_text())
    assert data["date"] == "2026-11-30"
    assert "LiteLLM" in data["source"] and "litellm 1.110.2" in data["source"]
    assert "per million" in data["convention"] and "reasoning" in data["convention"]
    table = shipped_table()
    assert table.date == data["date"] and table.source == data["source"]


@pytest.mark.parametrize("model", [
    # what the pinned CLIs asked a stand-in for with no model configured (docs/update_prices.py)
    "claude-opus-5-5",  # claude-code 2.1.330
    "gpt-6.1-sol",  # codex 0.169.0
    "gemini-3.5-flash-lite", "gemini-3.8-flash",  # gemini-cli 0.61.0's router and its flash route
    # common alternatives
    "claude-haiku-4-5",  # claude-code 2.1.197's title requests
    "claude-sonnet-4-5", "claude-sonnet-5-5", "claude-opus-4-8", "claude-haiku-5-5",
    "gpt-6-sol", "gpt-5.5", "gpt-5-codex", "gpt-5.1-codex-mini", "o4-mini",
    "gemini-2.5-pro",  # gemini-cli's DEFAULT_GEMINI_MODEL
    "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-3-flash-preview", "gemini-3.1-pro-preview",
    "gemini-3.1-pro-preview-customtools", "gemini-3.5-flash", "gemini-3.1-flash-lite",
])
def test_the_defaults_and_common_alternatives_are_priced(model):
    assert shipped_table().lookup(model) is not None


def test_figures_are_litellms_per_token_rates_times_a_million_exactly():
    """Spot checks against LiteLLM 1.110.2's per-token figures (no drift: 0.3, not 0.30000000000000004)."""
    rates = shipped_table().models
    # claude-sonnet-4-5: 3e-06, 3e-07, 3.75e-06, 6e-06 (above_1hr), 1.5e-05
    assert rates["claude-sonnet-4-5"] == pricing.Rates(input=Decimal("3"), output=Decimal("15"),
                                                       cache_read=Decimal("0.3"),
                                                       cache_write=Decimal("3.75"),
                                                       cache_write_1h=Decimal("6"))
    # gpt-5-nano: 5e-08 input, 5e-09 cache read, 4e-07 output; no cache-write rate
    nano = rates["gpt-5-nano"]
    assert (nano.input, nano.cache_read, nano.cache_write, nano.output) == (
        Decimal("0.05"), Decimal("0.005"), None, Decimal("0.4"))
    # gemini/gemini-2.5-flash: 3e-07, 3e-08, 2.5e-06
    flash = rates["gemini-2.5-flash"]
    assert (flash.input, flash.cache_read, flash.output) == (Decimal("0.3"), Decimal("0.03"), Decimal("2.5"))


def test_claude_one_hour_writes_cost_twice_the_input():
    for name, rates in shipped_table().models.items():
        if name.startswith("claude-"):
            assert rates.cache_write_1h == 2 * rates.input, name
            assert rates.cache_write == Decimal("1.25") * rates.input, name


# --- hand-computed estimates ----------------------------------------------------------

def test_claude_estimate_by_hand():
    # claude-opus-5-5: input 4, cache read 0.2, cache write 5, output 20 (USD per million)
    # input_tokens 12,000 of which 8,000 read from cache and 3,000 written to it:
    #   uncached  1,000 × 4    =  4,000
    #   read      8,000 × 0.2  =  1,600
    #   written   3,000 × 5    = 15,000
    #   output      500 × 20   = 10,000   (200 of them thinking: no extra charge)
    #   total                    30,600 / 1,000,000 = 0.0306 USD
    turn = usage(input=12_000, cached=8_000, created=3_000, output=500, reasoning=200)
    assert estimate_cost("claude-opus-5-5", turn) == Decimal("0.0306")


def test_claude_one_hour_part_when_the_caller_knows_it():
    # same turn, 1,000 of the 3,000 written tokens were 1-hour writes (8 per million):
    #   written   2,000 × 5 = 10,000 ; 1-hour 1,000 × 8 = 8,000 (instead of 15,000 for all at 5)
    #   total 4,000 + 1,600 + 10,000 + 8,000 + 10,000 = 33,600 / 1e6 = 0.0336
    turn = usage(input=12_000, cached=8_000, created=3_000, output=500, reasoning=200)
    assert estimate_cost("claude-opus-5-5", turn, cache_write_1h_tokens=1_000) == Decimal("0.0336")
    # a 1-hour figure larger than the writes is capped at the writes: all 3,000 at 8 = 24,000
    #   total 4,000 + 1,600 + 24,000 + 10,000 = 39,600 / 1e6
    assert estimate_cost("claude-opus-5-5", turn, cache_write_1h_tokens=10**9) == Decimal("0.0396")


def test_openai_estimate_by_hand():
    # gpt-5-codex: input 1.25, cache read 0.125, output 10; no cache-write rate (billed as input)
    # codex's turn: 20,000 input of which 15,000 cached; 2,000 output of which 1,500 reasoning
    #   uncached  5,000 × 1.25  =  6,250
    #   read     15,000 × 0.125 =  1,875
    #   output    2,000 × 10    = 20,000
    #   total                     28,125 / 1e6 = 0.028125 USD
    turn = usage(input=20_000, cached=15_000, output=2_000, reasoning=1_500)
    assert estimate_cost("gpt-5-codex", turn) == Decimal("0.028125")
    # codex's cache_write_input_tokens, where the model has no write rate, cost the input rate:
    # 1,000 of the 5,000 uncached become writes: 4,000 × 1.25 + 1,000 × 1.25 = the same 6,250
    written = usage(input=20_000, cached=15_000, created=1_000, output=2_000, reasoning=1_500)
    assert estimate_cost("gpt-5-codex", written) == Decimal("0.028125")


def test_gemini_estimate_by_hand():
    # gemini-2.5-pro: input 1.25, cache read 0.125, output 10
    # prompt 10,000 (4,000 cached), candidates 300 + thoughts 700 = output 1,000
    #   uncached 6,000 × 1.25  = 7,500
    #   read     4,000 × 0.125 =   500
    #   output   1,000 × 10    = 10,000
    #   total                    18,000 / 1e6 = 0.018 USD
    turn = usage(input=10_000, cached=4_000, output=1_000, reasoning=700)
    assert estimate_cost("gemini-2.5-pro", turn) == Decimal("0.018")


def test_cached_tokens_are_not_counted_twice():
    # 1,000,000 prompt tokens all read from cache on claude-sonnet-4-5: 1e6 × 0.3 = 0.30 USD,
    # not 0.30 + 3.00 (cached billed again as input)
    assert estimate_cost("claude-sonnet-4-5", usage(input=1_000_000, cached=1_000_000)) == Decimal("0.3")
    # all written to cache: 1e6 × 3.75 = 3.75, not 3.75 + 3
    assert estimate_cost("claude-sonnet-4-5", usage(input=1_000_000, created=1_000_000)) == Decimal("3.75")
    # reasoning inside output is not billed again: 1e6 output with 1e6 reasoning = 15
    assert estimate_cost("claude-sonnet-4-5", usage(output=10**6, reasoning=10**6)) == Decimal("15")


def test_unknown_model_and_missing_usage_give_none():
    assert estimate_cost("no-such-model-9", usage(input=10)) is None
    assert estimate_cost(None, usage(input=10)) is None
    assert estimate_cost("", usage(input=10)) is None
    assert estimate_cost("gemini-2.5-pro", None) is None  # store_token_usage: false
    assert estimate_cost("gemini-2.5-pro", {}) is None


def test_zero_usage_costs_zero_and_odd_fields_count_as_zero():
    assert estimate_cost("gpt-5", usage()) == 0
    odd = {"input_tokens": True, "cached_input_tokens": -5, "output_tokens": "7",
           "cache_creation_input_tokens": None}
    assert estimate_cost("gpt-5", odd) == 0


# --- names ---------------------------------------------------------------------------

@pytest.mark.parametrize("given_name, row", [
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),  # dated snapshot
    ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ("anthropic/claude-opus-4-5", "claude-opus-4-5"),  # provider prefix
    ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),  # Vertex spelling
    ("claude-sonnet-4-5[1m]", "claude-sonnet-4-5"),  # claude code's context tag
    ("models/gemini-2.5-flash", "gemini-2.5-flash"),  # the Gemini API's resource name
    ("gemini/gemini-2.5-pro", "gemini-2.5-pro"),
    ("openai/gpt-5-mini-2025-08-07", "gpt-5-mini"),
    ("  GPT-5-Codex ", "gpt-5-codex"),
])
def test_names_are_normalised(given_name, row):
    assert shipped_table().lookup(given_name) is shipped_table().models[row]


def test_an_exact_name_wins_over_its_normalised_form():
    table = price_table({"claude-sonnet-4-5-20250929": {"input": 1, "output": 1}})
    assert table.lookup("claude-sonnet-4-5-20250929").input == 1
    assert table.lookup("claude-sonnet-4-5").input == 3
    assert name_candidates("Models/X-2025-08-07")[-1] == "x"


def test_normalisation_does_not_invent_a_match():
    assert shipped_table().lookup("gpt-5.9") is None
    assert shipped_table().lookup("claude-sonnet-4-5-extra") is None
    assert shipped_table().lookup("gemini-2.5-pro-tts") is None


# --- overrides -----------------------------------------------------------------------

def test_overrides_add_a_model_and_replace_a_shipped_row():
    overrides = {
        "my-local-model": {"input": 0.5, "output": 1},
        "gemini-2.5-pro": {"input": 1, "cache_read": 0.1, "output": 8},
    }
    # new model: 2,000 uncached × 0.5 = 1,000; 1,000 cached at input (no cache_read given) × 0.5 = 500;
    #   300 output × 1 = 300 → 1,800 / 1e6
    turn = usage(input=3_000, cached=1_000, output=300)
    assert estimate_cost("my-local-model", turn, overrides=overrides) == Decimal("0.0018")
    # replaced row: 2,000 × 1 + 1,000 × 0.1 + 300 × 8 = 2,000 + 100 + 2,400 = 4,500 / 1e6
    assert estimate_cost("gemini-2.5-pro", turn, overrides=overrides) == Decimal("0.0045")
    # the shipped table itself is untouched: 2,000 × 1.25 + 1,000 × 0.125 + 300 × 10 = 5,625 / 1e6
    assert estimate_cost("gemini-2.5-pro", turn) == Decimal("0.005625")


def test_a_huge_whole_price_is_accepted_and_exact(clinvk):
    loaded = _settings(clinvk, f"prices:\n  m: {{input: {10**30}, output: 0}}\n")
    # 3 tokens × 1e30 per million = 3e24 USD, exactly
    assert estimate_cost("m", usage(input=3), overrides=loaded.get("prices")) == Decimal(3 * 10**24)


def test_a_row_without_input_or_output_is_refused_by_the_api_too():
    with pytest.raises(ValueError, match="needs output"):
        price_table({"m": {"input": 1}})


def test_a_replaced_claude_row_without_a_one_hour_rate_uses_its_write_rate():
    table = price_table({"claude-opus-5-5": {"input": 1, "cache_write": 2, "output": 3}})
    # 100 written, all 1-hour, at cache_write 2 = 200 / 1e6
    assert table.estimate("claude-opus-5-5", usage(input=100, created=100), 100) == Decimal("0.0002")


def _settings(clinvk, text: str):
    path = clinvk.config(text)
    return config.load({"CLINVK_HOME": str(clinvk.home), "HOME": str(clinvk.user_home)}, str(path))


def test_prices_from_the_config_file_reach_the_estimate(clinvk):
    loaded = _settings(clinvk, "prices:\n  my-model: {input: 2, cache_read: 0.5, output: 6}\n"
                               "  claude-opus-5-5: {input: 1, output: 2}\n")
    overrides = loaded.get("prices")
    assert overrides["my-model"] == {"input": 2, "cache_read": 0.5, "output": 6}
    # my-model: 900 × 2 + 100 × 0.5 + 10 × 6 = 1,800 + 50 + 60 = 1,910 / 1e6
    assert estimate_cost("my-model", usage(input=1_000, cached=100, output=10),
                         overrides=overrides) == Decimal("0.00191")
    # claude-opus-5-5 replaced: 1,000 × 1 + 10 × 2 = 1,020 / 1e6
    assert estimate_cost("claude-opus-5-5", usage(input=1_000, output=10),
                         overrides=overrides) == Decimal("0.00102")
    assert loaded.source("prices.my-model.input").startswith("file ")


def test_config_show_lists_prices_with_their_source(clinvk):
    clinvk.config("prices:\n  my-model: {input: 2, output: 6}\n")
    shown = clinvk.run("config", "show", "--json")
    assert shown.code == 0, shown.err
    settings_ = shown.json()["settings"]
    assert settings_["prices.my-model.input"]["value"] == 2
    assert settings_["prices.my-model.output"]["source"].startswith("file ")
    bare = clinvk.config("")
    assert bare.exists()
    shown = clinvk.run("config", "show", "--json")
    assert shown.json()["settings"]["prices"] == {"value": {}, "source": "default"}


@pytest.mark.parametrize("text, key, says", [
    ("prices:\n  m: {input: 1, output: 2, cache_wrte: 3}\n", "prices.m.cache_wrte", "not a price field"),
    ("prices:\n  m: {input: -1, output: 2}\n", "prices.m.input", "finite number ≥ 0"),
    ("prices:\n  m: {input: .inf, output: 2}\n", "prices.m.input", "finite number ≥ 0"),
    ("prices:\n  m: {input: .nan, output: 2}\n", "prices.m.input", "finite number ≥ 0"),
    ("prices:\n  m: {input: '3', output: 2}\n", "prices.m.input", "finite number ≥ 0"),
    ("prices:\n  m: {input: true, output: 2}\n", "prices.m.input", "finite number ≥ 0"),
    ("prices:\n  m: {input: 1, output: -1e400}\n", "prices.m.output", "finite number ≥ 0"),
    ("prices:\n  m:\n", "prices.m", "must be a mapping"),
    ("prices:\n  7: {input: 1, output: 1}\n", "prices", "model names"),
    ("prices:\n  m: {output: 2}\n", "prices.m", "needs input"),
    ("prices:\n  m: 3\n", "prices.m", "must be a mapping"),
    ("prices: [1, 2]\n", "prices", "must be a mapping"),
])
def test_invalid_prices_are_a_usage_error_naming_the_key(clinvk, text, key, says):
    path = clinvk.config(text)
    result = clinvk.run("config", "show")
    assert_clean_error(result, 2, f"'{key}'", says, str(path))


def test_an_example_config_with_prices_loads_cleanly(clinvk):
    clinvk.config(config.example_text())
    result = clinvk.run("config", "show")
    assert result.code == 0 and "unknown key" not in result.err, result.err


# --- properties ----------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=10**12)
models = st.sampled_from(sorted(shipped_table().models))


def _by_hand(rates: pricing.Rates, uncached: int, cached: int, created: int, output: int) -> Fraction:
    """The estimate with exact fractions, the rates' fallbacks spelled out."""
    def rate(value, fallback):
        return Fraction(value if value is not None else fallback)
    read = rate(rates.cache_read, rates.input)
    write = rate(rates.cache_write, rates.input)
    return (uncached * Fraction(rates.input) + cached * read + created * write
            + output * Fraction(rates.output)) / 10**6


@settings(max_examples=200, deadline=None)
@given(models, counts, counts, counts, counts, st.data())
def test_the_estimate_is_the_sum_of_its_parts(model, uncached, cached, created, output, data):
    reasoning = data.draw(st.integers(min_value=0, max_value=output))
    turn = usage(input=uncached + cached + created, cached=cached, created=created, output=output,
                 reasoning=reasoning)
    rates = shipped_table().models[model]
    got = estimate_cost(model, turn)
    assert Fraction(got) == _by_hand(rates, uncached, cached, created, output)
    assert got == sum(pricing.cost_parts(rates, turn).values())


@settings(max_examples=200, deadline=None)
@given(models, st.lists(counts, min_size=4, max_size=4), st.integers(0, 3), st.integers(1, 10**9))
def test_the_estimate_grows_with_every_token_count(model, parts, which, more):
    def cost(uncached, cached, created, output):
        turn = usage(input=uncached + cached + created, cached=cached, created=created, output=output,
                     reasoning=output // 2)
        return estimate_cost(model, turn)
    bigger = list(parts)
    bigger[which] += more
    assert cost(*bigger) >= cost(*parts)
    rates = shipped_table().models[model]
    if rates.output > 0 and which == 3:
        assert cost(*bigger) > cost(*parts)


@settings(max_examples=100, deadline=None)
@given(models, counts, counts, counts)
def test_reasoning_within_output_changes_nothing(model, input_, output, share):
    reasoning = share % (output + 1)
    assert estimate_cost(model, usage(input=input_, output=output, reasoning=reasoning)) == \
        estimate_cost(model, usage(input=input_, output=output))

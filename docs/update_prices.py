"""Rebuild clinvk/prices.json from LiteLLM's price file (run by hand; clinvk never imports litellm).

    pip download litellm --no-deps -d /tmp/litellm && cd /tmp/litellm && unzip -q litellm-*.whl
    python docs/update_prices.py /tmp/litellm/litellm/model_prices_and_context_window_backup.json \
        VERSION YYYY-MM-DD > clinvk/prices.json

The wheel ships the repository's `model_prices_and_context_window.json` under the name
`model_prices_and_context_window_backup.json`. Per-token USD figures become USD per
million tokens exactly (through Decimal of the figure's shortest repr, never a float
product). Only the rows named in ROWS are taken; extend it when the CLIs move.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal

# Checked 2026-11-30 against a loopback stand-in, with no model configured: claude-code
# 2.1.330 asks for claude-opus-5-5, codex 0.169.0 for gpt-6.1-sol, gemini-cli 0.61.0 (model
# "auto") routes with gemini-3.5-flash-lite and answered a short prompt with gemini-3.8-flash;
# its source names gemini-2.5-pro (DEFAULT_GEMINI_MODEL), gemini-3.5-flash,
# gemini-3.1-flash-lite and gemini-3.1-pro-preview(-customtools) as the other routes.
# LiteLLM 1.110.2 has no row for gemini-3-pro-preview or gemini-3-flash: not in the table.
#
# clinvk's name -> LiteLLM's key. Gemini rows come from the `gemini/` (Google AI Studio,
# API key) entries, the route the gemini CLI takes; claude and OpenAI rows from the
# providers' own entries (`anthropic`, `openai`).
CLAUDE = [
    "claude-opus-5-5", "claude-opus-5", "claude-sonnet-5-5", "claude-sonnet-5", "claude-haiku-5-5",
    "claude-fable-5-1", "claude-fable-5", "claude-mythos-5-1", "claude-mythos-5",
    "claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6", "claude-opus-4-5",
    "claude-sonnet-4-6", "claude-sonnet-4-5", "claude-haiku-4-5",
]
OPENAI = [
    "gpt-6.1-sol", "gpt-6.1-terra", "gpt-6-sol", "gpt-6-luna", "gpt-6-astra",
    "gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna", "gpt-5.5", "gpt-5.4", "gpt-5.4-mini",
    "gpt-5.3-codex", "gpt-5.2-codex", "gpt-5.2", "gpt-5.1-codex-max", "gpt-5.1-codex",
    "gpt-5.1-codex-mini", "gpt-5.1", "gpt-5-codex", "gpt-5", "gpt-5-mini", "gpt-5-nano",
    "o3", "o4-mini", "gpt-4.1",
]
GEMINI = [
    "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite",
    "gemini-3.1-pro-preview", "gemini-3.1-pro-preview-customtools", "gemini-3-flash-preview",
    "gemini-3.1-flash-lite",
    "gemini-3.1-flash-lite-preview", "gemini-3.5-flash", "gemini-3.5-flash-lite", "gemini-3.8-flash",
]
ROWS = {**{m: m for m in CLAUDE + OPENAI}, **{m: f"gemini/{m}" for m in GEMINI}}

FIELDS = {  # clinvk's field -> LiteLLM's per-token field
    "input": "input_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
    "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
    "output": "output_cost_per_token",
}

CONVENTION = (
    "USD per million tokens, LiteLLM's base (standard-tier, first context tier) rates. "
    "input: prompt tokens neither read from nor written to cache; cache_read: cached "
    "prompt tokens read; cache_write: prompt tokens written to cache (claude: 5-minute "
    "writes, 1.25x input); cache_write_1h: claude's 1-hour cache writes (2x input); "
    "output: generated tokens, reasoning/thinking included (billed as output). null: the "
    "source has no separate rate, and clinvk bills those tokens at input "
    "(cache_write_1h at cache_write)."
)


def per_million(per_token: float | None) -> Decimal | None:
    """LiteLLM's per-token float as an exact decimal per million tokens."""
    if per_token is None:
        return None
    return (Decimal(repr(per_token)) * 1_000_000).normalize()


def build(source: dict, version: str, date: str) -> dict:
    models = {}
    for name, key in ROWS.items():
        row = source[key]
        if row.get("output_cost_per_reasoning_token") not in (None, row["output_cost_per_token"]):
            raise SystemExit(f"{key}: reasoning is not billed as output; the convention does not hold")
        models[name] = {field: per_million(row.get(src)) for field, src in FIELDS.items()}
        models[name]["litellm_key"] = key
    return {
        "date": date,
        "source": f"LiteLLM model_prices_and_context_window.json, litellm {version} wheel "
                  "(litellm/model_prices_and_context_window_backup.json)",
        "convention": CONVENTION,
        "models": models,
    }


def _dump(value: object) -> str:
    text = json.dumps(value, indent=1, default=lambda d: "__D__" + format(d, "f") + "__D__")
    return text.replace('"__D__', "").replace('__D__"', "")


if __name__ == "__main__":
    path, version, date = sys.argv[1:4]
    with open(path, encoding="utf-8") as fh:
        print(_dump(build(json.load(fh), version, date)))

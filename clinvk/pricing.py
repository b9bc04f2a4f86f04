"""Estimated cost of a turn from its normalised usage and the shipped pricing table (prices.json).

The table gives USD per million tokens per model, taken from LiteLLM's
`model_prices_and_context_window` data (see prices.json for its date and source);
the config key `prices` replaces or adds whole rows. Model names are matched exactly
first, then normalised (see `name_candidates`). Arithmetic is exact (Decimal).

Usage is SPEC's normalised shape: `input_tokens` counts every prompt token, cached
ones included; `cached_input_tokens` (read from cache) and
`cache_creation_input_tokens` (written to cache) are parts of it; `output_tokens`
includes `reasoning_tokens`. So the estimate is

    (input − cached − cache_creation) × input
    + cached × cache_read
    + (cache_creation − 1h part) × cache_write + 1h part × cache_write_1h
    + output × output

each rate per million tokens. The normalised usage does not split claude's cache
writes by lifetime: unless the caller passes `cache_write_1h_tokens`, every write is
priced as a 5-minute write. A rate the table leaves null falls back: cache_read and
cache_write to input (providers without a separate rate bill those tokens as
ordinary input), cache_write_1h to cache_write.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal, localcontext
from functools import lru_cache
from pathlib import Path

from clinvk.records import Record

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any

PRICE_FIELDS = ("input", "cache_read", "cache_write", "cache_write_1h", "output")
REQUIRED_FIELDS = ("input", "output")
MILLION = Decimal(1_000_000)
_PRECISION = 80  # digits: exact for 64-bit token counts at any rate of ordinary magnitude (17 digits)

_PREFIXES = ("models/", "anthropic/", "openai/", "gemini/", "google/", "vertex_ai/")
_CONTEXT_TAG = re.compile(r"\[[^\]]*\]$")  # claude code's "claude-sonnet-4-5[1m]"
_DATE_SUFFIX = re.compile(r"(?:[-@]\d{8}|-\d{4}-\d{2}-\d{2})$")  # -20250929, @20250929, -2025-08-07


class Rates(Record, frozen=True):
    """One model's USD per million tokens; None where the table has no separate rate."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None

    @property
    def read(self) -> Decimal:
        return self.input if self.cache_read is None else self.cache_read

    @property
    def write(self) -> Decimal:
        return self.input if self.cache_write is None else self.cache_write

    @property
    def write_1h(self) -> Decimal:
        return self.write if self.cache_write_1h is None else self.cache_write_1h


def price_number_ok(value: Any) -> bool:
    """A price from the config: an int or float, finite, ≥ 0 (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value >= 0 and (isinstance(value, int) or math.isfinite(value))  # a huge int is no float


def _decimal(value: Any) -> Decimal:
    # repr of a float is its shortest round-trip form: 0.3 stays 0.3, not 0.2999…
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def rates_from(row: Mapping[str, Any]) -> Rates:
    """Rates from a table or config row ({input, output, cache_read?, cache_write?, cache_write_1h?})."""
    missing = [f for f in REQUIRED_FIELDS if row.get(f) is None]
    if missing:
        raise ValueError(f"a price row needs {' and '.join(missing)}")
    values = {f: None if row.get(f) is None else _decimal(row[f]) for f in PRICE_FIELDS}
    return Rates(**values)


def name_candidates(model: str) -> list[str]:
    """The names tried in turn: as given, lowercased, without provider prefix, context tag, date."""
    out = [model]
    name = model.strip().lower()
    out.append(name)
    while name.startswith(_PREFIXES):
        name = name.split("/", 1)[1]
    out.append(name)
    name = _CONTEXT_TAG.sub("", name)
    out.append(name)
    out.append(_DATE_SUFFIX.sub("", name))
    return list(dict.fromkeys(out))


class PriceTable(Record, frozen=True):
    """Rates per model name, with the table's date and source."""

    date: str
    source: str
    models: Mapping[str, Rates]

    def lookup(self, model: str | None) -> Rates | None:
        if not model:
            return None
        for name in name_candidates(model):
            if name in self.models:
                return self.models[name]
        return None

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]] | None) -> PriceTable:
        """This table with the config's `prices` rows replacing or adding whole models."""
        if not overrides:
            return self
        models = dict(self.models)
        models.update({name: rates_from(row) for name, row in overrides.items()})
        return PriceTable(self.date, self.source, models)

    def estimate(self, model: str | None, usage: Mapping[str, Any] | None,
                 cache_write_1h_tokens: int = 0) -> Decimal | None:
        """Estimated USD of `usage` on `model`; None for an unknown model or no usage."""
        rates = self.lookup(model)
        if rates is None or not usage:
            return None
        parts = cost_parts(rates, usage, cache_write_1h_tokens)
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            return sum(parts.values(), Decimal(0))


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def cost_parts(rates: Rates, usage: Mapping[str, Any], cache_write_1h_tokens: int = 0) -> dict[str, Decimal]:
    """The estimate's parts in USD: uncached input, cache read, cache write (5 min, 1 h), output."""
    cached = _count(usage, "cached_input_tokens")
    created = _count(usage, "cache_creation_input_tokens")
    uncached = max(0, _count(usage, "input_tokens") - cached - created)
    one_hour = min(max(0, cache_write_1h_tokens), created)
    tokens = {
        "input": (uncached, rates.input),
        "cache_read": (cached, rates.read),
        "cache_write": (created - one_hour, rates.write),
        "cache_write_1h": (one_hour, rates.write_1h),
        "output": (_count(usage, "output_tokens"), rates.output),  # reasoning is part of it
    }
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return {part: n * rate / MILLION for part, (n, rate) in tokens.items()}


@lru_cache(maxsize=1)
def shipped_table() -> PriceTable:
    """The table shipped in the package (read once)."""
    text = (Path(__file__).parent / "prices.json").read_text(encoding="utf-8")
    data = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    models = {name: rates_from(row) for name, row in data["models"].items()}
    return PriceTable(data["date"], data["source"], models)


def price_table(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> PriceTable:
    """The shipped table with the config's `prices` overrides applied."""
    return shipped_table().with_overrides(overrides)


def estimate_cost(model: str | None, usage: Mapping[str, Any] | None, *,
                  overrides: Mapping[str, Mapping[str, Any]] | None = None,
                  cache_write_1h_tokens: int = 0) -> Decimal | None:
    """Estimated USD of one turn's (or a session's) usage; None when the model is unknown."""
    return price_table(overrides).estimate(model, usage, cache_write_1h_tokens)

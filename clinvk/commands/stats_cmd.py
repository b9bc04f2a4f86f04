"""`clinvk sessions stats [ID]`: usage figures (logic in clinvk.stats)."""

from __future__ import annotations

from typing import Any

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, pass_app
from clinvk.commands.list_filters import filter_options, take_filters
from clinvk.display import printable

_HEAD = ("SESSIONS", "TURNS", "INPUT", "CACHED", "OUTPUT", "REASONING", "TOTAL", "CACHE HIT",
         "MEDIAN", "P95", "COST")
_TURN_HEAD = ("#", "AT", "DURATION", "EXIT", "INPUT", "CACHED", "OUTPUT", "REASONING", "TOTAL",
              "PROMPT")


def _num(value: Any) -> str:
    import humanize

    return "-" if value is None else humanize.intcomma(value)


def _secs(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes}m{seconds:02d}s"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _cost(group: dict[str, Any]) -> str:
    if group["cost_usd"] is None:
        return "-"
    known = "" if group["cost_sessions"] == group["sessions"] else f" ({group['cost_sessions']})"
    rough = "~" if group.get("cost_estimated") else ""  # some of it is clinvk's estimate
    return f"{rough}${group['cost_usd']:,.2f}{known}"


def _cells(label: str, g: dict[str, Any]) -> tuple[str, ...]:
    t = g["tokens"]
    return (label, _num(g["sessions"]), _num(g["turns"]), _num(t["input_tokens"]),
            _num(t["cached_input_tokens"]), _num(t["output_tokens"]), _num(t["reasoning_tokens"]),
            _num(t["total_tokens"]), _ratio(g["cache_hit_ratio"]), _secs(g["duration_ms"]["median"]),
            _secs(g["duration_ms"]["p95"]), _cost(g))


def _table(rows: list[tuple[str, ...]], left: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i in left else c.rjust(w)
                      for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def _label(by: str | None, key: Any, app: App) -> str:
    if key is None:
        return "(unknown)"
    if by == "dir":
        from clinvk.commands.session_rows import short_dir

        return short_dir(str(key), app.env, width=40)
    return printable(key)


def _turn_cells(turn: dict[str, Any]) -> tuple[str, ...]:
    usage = turn.get("usage") or {}
    at = (turn.get("at") or "-").replace("T", " ").replace("Z", "")
    prompt = printable(" ".join((turn.get("prompt") or "").split()))
    return (str(turn["n"]), at, _secs(turn.get("duration_ms")), str(turn.get("exit_code")),
            *(_num(usage.get(f)) for f in ("input_tokens", "cached_input_tokens",
                                           "output_tokens", "reasoning_tokens", "total_tokens")),
            prompt if len(prompt) <= 50 else prompt[:49] + "…")


def _show_session(app: App, result: dict[str, Any]) -> None:
    out = app.env.stdout
    total = result["total"]
    parts = [f"session {result['session']}", result["backend"], result.get("model"),
             result.get("title")]
    out.write(printable("  ".join(p for p in parts if p)) + "\n")
    if result["turns"]:
        rows = [_TURN_HEAD, *(_turn_cells(t) for t in result["turns"])]
        for line in _table(rows, left={1, 9}):
            out.write(line + "\n")
    t = total["tokens"]
    out.write(f"total: {_num(total['turns'])} turns, {_num(t['total_tokens'])} tokens "
              f"(input {_num(t['input_tokens'])}, cached {_num(t['cached_input_tokens'])}, "
              f"output {_num(t['output_tokens'])}, reasoning {_num(t['reasoning_tokens'])}), "
              f"cache hit {_ratio(total['cache_hit_ratio'])}, median "
              f"{_secs(total['duration_ms']['median'])}, p95 {_secs(total['duration_ms']['p95'])}, "
              f"cost {_cost(total)}\n")


def _check_disk(by: str | None) -> None:
    from clinvk.errors import UsageError

    if by is not None:
        raise UsageError("--disk goes with an ID or the list filters, not with --by "
                         "(e.g. `sessions stats --disk -b codex`)")


@click.command("stats", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("session_id", metavar="[ID]", required=False)
@click.option("--by", metavar="backend|model|day|dir",
              help="Group by backend, model, day (UTC day of last use) or working directory.")
@filter_options
@click.option("--disk", is_flag=True,
              help="The bytes each session takes: record, archive, backend files; largest first.")
@click.option("--json", "as_json", is_flag=True, help="The figures as JSON, unrounded.")
@common_options
@pass_app
def stats(app: App, session_id: str | None, by: str | None, disk: bool, as_json: bool,
          **params: Any) -> int:
    """Sessions, turns, tokens, cache-hit ratio (cached/input), turn durations (median, p95)
    and cost where known, in total or grouped; with ID, the per-turn table of that session.

    A cost shown as "$1.23 (4)" is the sum over the 4 sessions whose backend reported one.
    With --disk, the bytes each session takes instead (ID's, or with the list filters)."""
    from clinvk import stats as calc

    calc.check_by(by)
    from clinvk.adopt import auto_adopt

    auto_adopt(app)
    if disk:
        _check_disk(by)
        from clinvk.commands.disk_view import print_disk

        print_disk(app, take_filters(app, params), as_json, session_id)
        return 0
    if session_id is not None:
        result = calc.session_stats(app.store.get(session_id))
        emit_json(app, result) if as_json else _show_session(app, result)
        return 0
    result = calc.stats(app.store, by, take_filters(app, params))
    if as_json:
        emit_json(app, result)
        return 0
    head = (by.upper() if by else "", *_HEAD)
    rows = [head, *(_cells(_label(by, g["key"], app), g) for g in result["groups"])]
    rows.append(_cells("total", result["total"]))
    for line in _table(rows, left={0}):
        app.env.stdout.write(line + "\n")
    return 0

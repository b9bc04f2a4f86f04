"""The filter and sort options of `sessions list`: the one definition that `sessions search`,
`sessions stats` and `sessions export` use too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from clinvk.app import App
from clinvk.commands import not_empty
from clinvk.filters import OPTION_NAMES, SORT_KEYS_SAID, SessionFilter, parse_filter
from clinvk.store.record_check import STATUSES

WHEN = "WHEN"
LIMIT_MAX = 2**63 - 1  # -n: what the index (SQLite) can count to
_WHEN_HELP = "a date (2026-11-01), an RFC 3339 timestamp or a duration meaning that long ago (7d)"


def filter_options(func: Callable[..., Any] | None = None, *, with_search: bool = True) -> Any:
    """-b, --status, --here, -t/--tag, --since, --until, --meta and (with_search) --search;
    usable as @filter_options or @filter_options(with_search=False)."""
    if func is None:
        return lambda f: filter_options(f, with_search=with_search)
    options = [
        click.option("-b", "--backend", metavar="NAME", callback=not_empty, help="Only this backend."),
        click.option("--status", type=click.Choice(STATUSES), help="Only sessions with this status."),
        click.option("--here", is_flag=True, help="Only sessions of the current directory."),
        click.option("-t", "--tag", "tags", metavar="TAG", multiple=True, callback=not_empty,
                     help="Only sessions with this tag (repeatable: all must match)."),
        click.option("--since", metavar=WHEN, help=f"Last used at or after WHEN: {_WHEN_HELP}."),
        click.option("--until", metavar=WHEN,
                     help="Last used at or before WHEN (a bare date includes that whole day)."),
        click.option("--meta", metavar="KEY=VALUE", multiple=True,
                     help="Only sessions with this metadata entry (repeatable)."),
    ]
    if with_search:
        options.append(click.option(
            "--search", metavar="TEXT",
            help="Only sessions with TEXT (any case) in title, prompts, tags or metadata."))
    for option in reversed(options):
        func = option(func)
    return func


def sort_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--sort KEY and --reverse."""
    func = click.option("--reverse", is_flag=True, help="Reverse the order.")(func)
    return click.option(
        "--sort", metavar="KEY", default="last_used", show_default=True,
        help=f"Order by {SORT_KEYS_SAID} (newest, most first; title A-Z).")(func)


def take_filters(app: App, params: dict[str, Any]) -> SessionFilter:
    """Pop the filter, sort and limit options out of a command's params: their SessionFilter."""
    options = {key: params.pop(key) for key in OPTION_NAMES if key in params}
    return parse_filter(options, app.env.current_dir() if options.get("here") else None)

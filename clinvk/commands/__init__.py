"""One module per subcommand; this module holds the options every command shares."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from clinvk.app import App


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(App).config_flag = value


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(App).env.verbose = True


def not_empty(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    """A NAME or DIR option given as '' (`-b "$UNSET"`) is refused, not read as left out."""
    if value == "" or (isinstance(value, tuple) and "" in value):
        from clinvk.errors import UsageError

        raise UsageError(f"{'/'.join(_param.opts)} must not be empty (an unset variable?)")
    return value


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--config and -v/--verbose, accepted by every command."""
    func = click.option(
        "--config", "config_path", metavar="PATH", expose_value=False, callback=_set_config,
        is_eager=True, help="Config file (default $CLINVK_HOME/config.yaml; env CLINVK_CONFIG).",
    )(func)
    func = click.option(
        "-v", "--verbose", is_flag=True, expose_value=False, callback=_set_verbose,
        is_eager=True, help="Show the backend's diagnostics and the command line run.",
    )(func)
    return func


def pass_app(func: Callable[..., Any]) -> Callable[..., Any]:
    """Pass the App first (as click.make_pass_decorator(App, ensure=True) does); a command
    asked for JSON (--json, -o json) draws no progress line on stderr."""

    def invoke(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        app = ctx.ensure_object(App)
        if kwargs.get("as_json") or kwargs.get("output_format") in ("json", "stream-json"):
            app.quiet_progress = True
        return ctx.invoke(func, app, *args, **kwargs)

    return functools.update_wrapper(invoke, func)


def emit_json(app: App, value: Any) -> None:
    import json

    from clinvk.display import json_text

    app.env.stdout.write(json_text(json.dumps(value, indent=2, ensure_ascii=False)) + "\n")

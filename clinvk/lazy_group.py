"""A Click group whose subcommands are imported only when one of them is run or named: its
help lists them from short helps kept beside their import paths (startup time)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import click


def load(spec: str) -> click.Command:
    """The command at "module:attribute"."""
    module, attr = spec.split(":")
    return getattr(import_module(module), attr)


class LazyGroup(click.Group):
    """A group with commands of its own and `lazy` ones ({name: "module:attribute"}),
    listed in its help with their `summaries` ({name: the first sentence of the command's
    help}, checked by the tests against the commands themselves)."""

    def __init__(self, *args: Any, lazy: dict[str, str], summaries: dict[str, str],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy
        self.summaries = summaries

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        spec = self.lazy.get(cmd_name)
        return load(spec) if spec else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            text = self.summaries.get(name) if name not in self.commands else None
            if text is not None:
                # shortened as Click shortens a command's own help (its helper for that is
                # deprecated in Click 8.2+)
                rows.append((name, click.Command(name, help=text).get_short_help_str(limit)))
            elif (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

"""Root options written before a subcommand: `clinvk -o json resume ID more`, `clinvk -v sessions
list`. They are read with the root command's own option table (so that an option's value, as in
`clinvk -m resume hi`, is never taken for a subcommand) and handed to the subcommand under its
own spelling, where they mean what they mean after it. One that means nothing there is a usage
error, never a prompt."""

from __future__ import annotations

from collections.abc import Iterable

import click

from clinvk.errors import UsageError
from clinvk.option_reader import Given, read_option

# root options (by parameter name) that a subcommand may take with the same meaning
FORWARDABLE = frozenset({"config_path", "verbose", "output_format", "timeout", "backend",
                         "model", "dry_run", "ephemeral", "here"})


def option_table(params: Iterable[click.Parameter]) -> dict[str, click.Option]:
    """Every spelling (`-m`, `--model`) of a command's options."""
    return {opt: p for p in params if isinstance(p, click.Option)
            for opt in (*p.opts, *p.secondary_opts)}


def _takes_value(option: click.Option) -> bool:
    return not option.is_flag and not option.count


def _known(table: dict[str, click.Option], spelling: str) -> tuple[str, bool] | None:
    option = table.get(spelling)
    return None if option is None else (option.name or "", _takes_value(option))


def read_options(args: list[str], table: dict[str, click.Option]) -> tuple[list[Given], int]:
    """The root options at the start of `args` and the index of the first word after them.

    Reading stops at `--`, at a word that is not an option, and at anything the table does not
    know (the root command then reports it)."""
    given: list[Given] = []
    rest = list(args)
    while rest:
        arg = rest[0]
        if arg == "--" or not arg.startswith("-") or arg == "-":
            break
        tail = rest[1:]
        read = read_option(arg, tail, lambda spelling: _known(table, spelling))
        if read is None:
            break
        given += read
        rest = tail
    return given, len(args) - len(rest)


def _spelling(option: click.Option) -> str:
    return next((o for o in option.opts if o.startswith("--")), option.opts[0])


def forward(given: list[Given], command: click.Command, path: str) -> list[str]:
    """The arguments that give `command` these root options, in its own spelling; UsageError
    for one it does not take with the same meaning."""
    table = {p.name: p for p in command.params if isinstance(p, click.Option)}
    out: list[str] = []
    for item in given:
        option = table.get(item.name) if item.name in FORWARDABLE else None
        if option is None or _takes_value(option) != (item.value is not None):
            raise UsageError(
                f"{item.shown} does not apply to `clinvk {path}`; to send a prompt that starts "
                f"with {path.split()[0]!r}, quote it as one argument")
        spelled = _spelling(option)
        if item.value is None:
            out.append(spelled)
        elif spelled.startswith("--"):
            out.append(f"{spelled}={item.value}")
        else:
            out.append(spelled + item.value)
    return out

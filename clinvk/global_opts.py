"""Root options written before a subcommand: `clinvk -o json resume ID more`, `clinvk -v sessions
list`. They are read with the root command's own option table (so that an option's value, as in
`clinvk -m resume hi`, is never taken for a subcommand) and handed to the subcommand under its
own spelling, where they mean what they mean after it. One that means nothing there is a usage
error, never a prompt."""

from __future__ import annotations

from collections.abc import Iterable

import click

from clinvk.errors import UsageError

# root options (by parameter name) that a subcommand may take with the same meaning
FORWARDABLE = frozenset({"config_path", "verbose", "output_format", "timeout", "backend",
                         "model", "dry_run", "ephemeral", "here"})


class Given:
    """One root option as the user wrote it: `shown` is its spelling, value None for a flag.
    (A plain class: a dataclass costs its creation before a turn's backend is spawned.)"""

    __slots__ = ("name", "shown", "value")

    def __init__(self, name: str, shown: str, value: str | None) -> None:
        self.name, self.shown, self.value = name, shown, value


def option_table(params: Iterable[click.Parameter]) -> dict[str, click.Option]:
    """Every spelling (`-m`, `--model`) of a command's options."""
    return {opt: p for p in params if isinstance(p, click.Option)
            for opt in (*p.opts, *p.secondary_opts)}


def _takes_value(option: click.Option) -> bool:
    return not option.is_flag and not option.count


def _short(arg: str, rest: list[str], table: dict[str, click.Option]) -> list[Given] | None:
    """`-v`, `-mopus`, `-vc`, `-m opus` (taking the value from `rest`); None if not readable."""
    found: list[Given] = []
    for pos in range(1, len(arg)):
        option = table.get("-" + arg[pos])
        if option is None:
            return None
        if not _takes_value(option):
            found.append(Given(option.name or "", "-" + arg[pos], None))
            continue
        value = arg[pos + 1:]
        if not value:
            if not rest:
                return None
            value = rest.pop(0)
        found.append(Given(option.name or "", "-" + arg[pos], value))
        return found
    return found


def _long(arg: str, rest: list[str], table: dict[str, click.Option]) -> list[Given] | None:
    """`--model opus`, `--model=opus`, `--verbose`; None if not readable."""
    name, eq, value = arg.partition("=")
    option = table.get(name)
    if option is None or (eq and not _takes_value(option)):
        return None
    if _takes_value(option) and not eq:
        if not rest:
            return None
        value = rest.pop(0)
    return [Given(option.name or "", name, value if _takes_value(option) else None)]


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
        read = _long(arg, tail, table) if arg.startswith("--") else _short(arg, tail, table)
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

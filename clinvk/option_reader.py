"""One option word of a command line, read the way Click reads it: `--name VALUE`,
`--name=VALUE`, `--flag`, `-x VALUE`, `-xVALUE`, `-abc` (flags, the last one may take the
rest of the word or the next word as its value). Click-free: the root command's options
before a subcommand (clinvk.global_opts) and the plain run form (clinvk.run_argv) are read
with it."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Callable

    # an option's spelling -> (its parameter's name, whether it takes a value); None: unknown
    Lookup = Callable[[str], "tuple[str, bool] | None"]


class Given:
    """One option as the user wrote it: `shown` is its spelling, value None for a flag.
    (A plain class: a dataclass costs its creation before a turn's backend is spawned.)"""

    __slots__ = ("name", "shown", "value")

    def __init__(self, name: str, shown: str, value: str | None) -> None:
        self.name, self.shown, self.value = name, shown, value


def read_option(arg: str, rest: list[str], lookup: Lookup) -> list[Given] | None:
    """The option(s) in the word `arg` (an option's value may be taken from the front of
    `rest`); None when Click would not read it so (unknown, a flag given a value, a value
    missing)."""
    return _long(arg, rest, lookup) if arg.startswith("--") else _short(arg, rest, lookup)


def _long(arg: str, rest: list[str], lookup: Lookup) -> list[Given] | None:
    spelling, eq, value = arg.partition("=")
    known = lookup(spelling)
    if known is None:
        return None
    name, takes_value = known
    if not takes_value:
        return None if eq else [Given(name, spelling, None)]
    if not eq:
        if not rest:
            return None
        value = rest.pop(0)
    return [Given(name, spelling, value)]


def _short(arg: str, rest: list[str], lookup: Lookup) -> list[Given] | None:
    found: list[Given] = []
    for pos in range(1, len(arg)):
        spelling = "-" + arg[pos]
        known = lookup(spelling)
        if known is None:
            return None
        name, takes_value = known
        if not takes_value:
            found.append(Given(name, spelling, None))
            continue
        value = arg[pos + 1:]
        if not value:
            if not rest:
                return None
            value = rest.pop(0)
        found.append(Given(name, spelling, value))
        return found
    return found

"""The root command's plain form, `clinvk [OPTIONS] [PROMPT]... [-- BACKEND_ARGS]`, read without
Click: a turn's backend is then spawned before Click is imported (issue 9 §8).

It reads a command line exactly as Click reads it for the root command (options anywhere
among the PROMPT words, `-mNAME`, `-vc`, `--model=NAME`, the last of a repeated option,
`-t` repeatable, `--` ending the options), or says None: for a subcommand, help,
anything unknown or wrong, shell completion, and the rest that Click then reads and
reports itself. tests/test_run_argv.py holds it to Click's reading."""

from __future__ import annotations

from clinvk.option_reader import read_option
from clinvk.output import FORMATS
from clinvk.turn_options import RunOptions, TurnOptions

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

# clinvk.cli's SUBCOMMANDS (that module imports Click; tests/test_run_argv.py holds the two equal)
SUBCOMMANDS = frozenset({"resume", "sessions", "config", "backends"})
OUTPUT_FORMATS = frozenset(FORMATS)
# option spelling -> (parameter, kind): "value", "flag" or "many" (a repeatable value)
OPTIONS: dict[str, tuple[str, str]] = {
    "-b": ("backend", "value"), "--backend": ("backend", "value"),
    "-w": ("workdir", "value"), "--workdir": ("workdir", "value"),
    "-c": ("cont", "flag"), "--continue": ("cont", "flag"),
    "--here": ("here", "flag"), "--new": ("new", "flag"),
    "--title": ("title", "value"),
    "-t": ("tags", "many"), "--tag": ("tags", "many"),
    "-m": ("model", "value"), "--model": ("model", "value"),
    "-o": ("output_format", "value"), "--output-format": ("output_format", "value"),
    "--ephemeral": ("ephemeral", "flag"), "--dry-run": ("dry_run", "flag"),
    "--timeout": ("timeout", "value"),
    "--config": ("config_path", "value"), "-v": ("verbose", "flag"), "--verbose": ("verbose", "flag"),
}
ROOT_ONLY = ("--help", "-h", "--version")  # the root group's own options, when they come first


class PlainRun:
    """A plain root command line, read: the command's options, and --config / -v."""

    __slots__ = ("options", "config_path", "verbose")

    def __init__(self, options: RunOptions, config_path: str | None, verbose: bool) -> None:
        self.options, self.config_path, self.verbose = options, config_path, verbose


def read_plain_run(argv: Sequence[Any], environ: Mapping[str, str]) -> PlainRun | None:
    """The plain root command line `argv` as Click would read it; None when Click must read
    it (a subcommand, help, completion, an unknown or misused option, a bad value)."""
    if "_CLINVK_COMPLETE" in environ or not all(isinstance(arg, str) for arg in argv):
        return None
    args = list(argv)
    if args and args[0] in ROOT_ONLY:
        return None
    passthrough: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, passthrough = args[:cut], args[cut + 1:]
    values: dict[str, Any] = {"tags": []}
    words: list[str] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if len(arg) < 2 or not arg.startswith("-"):
            if not words and arg in SUBCOMMANDS:  # the first word after the options
                return None
            words.append(arg)
            continue
        found = read_option(arg, rest, _known)
        if found is None:
            return None
        for given in found:
            if given.name == "tags":
                values["tags"].append(given.value)
            else:
                values[given.name] = True if given.value is None else given.value
    return _build(values, words, passthrough)


def _known(spelling: str) -> tuple[str, bool] | None:
    known = OPTIONS.get(spelling)
    return None if known is None else (known[0], known[1] != "flag")


def _build(values: dict[str, Any], words: list[str], passthrough: list[str]) -> PlainRun | None:
    fmt = values.get("output_format")
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        return None
    if "" in (values.get("backend"), values.get("model"), values.get("workdir")):
        return None  # Click's reading refuses an empty name
    timeout = values.get("timeout")
    if timeout is not None:
        from clinvk.durations import parse_timeout
        from clinvk.errors import UsageError

        try:
            timeout = parse_timeout(timeout)
        except UsageError:
            return None  # Click's reading reports it
    turn = TurnOptions(model=values.get("model"), output_format=fmt,
                       ephemeral=bool(values.get("ephemeral")), dry_run=bool(values.get("dry_run")),
                       timeout=timeout, passthrough=tuple(passthrough))
    options = RunOptions(backend=values.get("backend"), workdir=values.get("workdir"),
                         cont=bool(values.get("cont")), here=bool(values.get("here")),
                         new=bool(values.get("new")), title=values.get("title"),
                         tags=tuple(values["tags"]), prompt=tuple(words), turn=turn)
    return PlainRun(options, values.get("config_path") or None, bool(values.get("verbose")))

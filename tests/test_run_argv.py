"""clinvk.run_argv reads the plain root command line without Click: whatever it reads, Click
reads the same way (or it leaves the line to Click); and `clinvk PROMPT` never imports
Click nor pexpect before its backend is spawned."""

from __future__ import annotations

import subprocess
import sys
import warnings

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinvk.app import App
from clinvk.cli import cli
from clinvk.commands.run import from_click
from clinvk.run_argv import OPTIONS, OUTPUT_FORMATS, SUBCOMMANDS, read_plain_run
from clinvk.turn_options import RunOptions


def click_reading(argv: list[str]) -> tuple | None:
    """(RunOptions, --config, -v) as Click reads `argv` for the root command's `run`; None
    when Click refuses it, shows help, or finds a subcommand."""
    app = App()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Context.protected_args
            ctx = cli.make_context("clinvk", list(argv), obj=app)
            name, *rest = [*ctx.protected_args, *ctx.args]
            if name != "run":
                return None
            command = cli.get_command(ctx, name)
            sub = command.make_context(name, rest, parent=ctx)
            return from_click(RunOptions, sub), app.config_flag, app.env.verbose
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        return None
    except Exception as exc:  # clinvk's own UsageError from an option's callback
        if type(exc).__name__ == "UsageError":
            return None
        raise


def fast_reading(argv: list[str]) -> tuple | None:
    plain = read_plain_run(argv, {})
    return None if plain is None else (plain.options, plain.config_path, plain.verbose)


_SPELLINGS = sorted(OPTIONS)
_TOKENS = st.one_of(
    st.sampled_from(_SPELLINGS),
    st.sampled_from(["-h", "--help", "--version", "--bogus", "-x", "-", "--", "", "-5",
                     "-vc", "-cv", "-mopus", "-vmopus", "-tX", "-m=x", "-ch", "-bclaude",
                     "--model=", "--model=a=b", "--ephemeral=1", "--title=t", "-ojson", "-o=json",
                     "---x", "--here=", "-vt"]),
    st.sampled_from(["hi", "fix the bug", "sessions", "resume", "config", "backends", "run",
                     "json", "text", "stream-json", "opus", "5", "1m", "nan", "-1", "0"]),
    st.text(max_size=4),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_TOKENS, max_size=8))
def test_what_it_reads_click_reads_the_same(argv):
    fast = fast_reading(argv)
    if fast is not None:
        assert fast == click_reading(argv), argv


@pytest.mark.parametrize("argv", [
    ["hi"], ["-b", "codex", "fix", "the", "bug"], ["--backend=gemini", "hi"], ["-bclaude", "hi"],
    ["fix", "-m", "opus", "it"], ["-o", "json", "hi"], ["--timeout", "30", "hi"],
    ["-c", "now", "add", "tests"], ["-c", "--here", "more"], ["--ephemeral", "hi"],
    ["--dry-run", "hi", "--", "--max-turns", "3"], ["-t", "a", "--tag", "b", "hi"],
    ["--title", "T", "-w", "sub", "hi"], ["-v", "--config", "c.yaml", "hi"], [],
    ["-vc", "again"], ["--new", "-m", "sessions", "hi"], ["--", "sessions"], ["run", "x"],
])
def test_the_common_lines_are_read_without_click(argv):
    fast = fast_reading(argv)
    assert fast is not None, argv
    assert fast == click_reading(argv)


@pytest.mark.parametrize("argv", [
    ["sessions", "list"], ["-v", "sessions", "list"], ["-o", "json", "resume", "ab", "more"],
    ["--help"], ["hi", "--help"], ["-h"], ["--version"], ["--bogus", "hi"], ["-m"],
    ["-o", "yaml", "hi"], ["--timeout", "nan", "hi"], ["--ephemeral=1", "hi"], [b"hi"],
    ["config"], ["backends", "--json"],
])
def test_everything_else_is_left_to_click(argv):
    assert read_plain_run(argv, {}) is None


def test_shell_completion_is_left_to_click():
    assert read_plain_run(["hi"], {"_CLINVK_COMPLETE": "bash_complete"}) is None


SPAWN_PROBE = r"""
import os, sys
already = set(sys.modules)  # an editable install's import hook brings pathlib, say
def hook(event, args):
    if event == "os.forkpty":
        seen = sorted(m for m in ("click", "pexpect", "ptyprocess", "humanize", "sqlite3", "pathlib",
                                  "dataclasses", "inspect", "clinvk.store")
                      if m in sys.modules and m not in already)
        with open(os.environ["PROBE_OUT"], "a") as fh:
            fh.write(" ".join(seen) + "\n")
sys.addaudithook(hook)
from clinvk.launch import main
main(sys.argv[1:])
"""


def test_a_plain_turn_spawns_its_backend_before_click_pexpect_or_the_store(clinvk, tmp_path):
    """The launch path (issue 9 §8): what is imported when the backend is forked (yaml is:
    the fake backend needs a config file)."""
    from conftest import with_fake_backend

    fake = with_fake_backend(clinvk, tmp_path, "33333333-4444-5555-6666-777777777777")
    assert fake.run("-b", "fake", "first").code == 0  # the store exists (else it is checked)
    out = tmp_path / "probe.txt"
    env = {**fake.env, "PROBE_OUT": str(out)}
    for argv in (["-b", "fake", "hi"], ["-b", "fake", "-o", "json", "--timeout", "60", "hi"]):
        done = subprocess.run([sys.executable, "-c", SPAWN_PROBE, *argv], cwd=fake.cwd, env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
        assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines() == ["", ""]
    # and the turns were recorded as any other
    assert [s["turn_count"] for s in fake.sessions()] == [1, 1, 1]


def test_its_option_table_is_the_run_commands():
    """Every spelling of the Click command's options, with the same parameter and kind (an
    option added to Click but not here would only send the line to Click: still caught)."""
    from clinvk.commands.run import run

    clicks = {}
    for param in run.params:
        if isinstance(param, click.Option):
            kind = "flag" if param.is_flag else "many" if param.multiple else "value"
            for spelling in (*param.opts, *param.secondary_opts):
                clicks[spelling] = (param.name, kind)
    assert clicks == OPTIONS
    [fmt] = [p for p in run.params if p.name == "output_format"]
    assert set(fmt.type.choices) == OUTPUT_FORMATS


def test_its_subcommands_are_the_root_groups():
    """A subcommand it did not know would be read as a prompt and sent to a backend."""
    from clinvk.cli import SUBCOMMANDS as CLICK_SUBCOMMANDS

    assert set(CLICK_SUBCOMMANDS) == SUBCOMMANDS

"""Root options before a subcommand (`clinvk -o json resume ID more`, `clinvk -v sessions list`):
they mean what they mean after it, a word naming a subcommand is that subcommand, and an
option's value or a quoted prompt never is. Through the entry point and a fake backend."""

from __future__ import annotations

import json

import pytest
from conftest import assert_clean_error
from hypothesis import given, settings
from hypothesis import strategies as st

from clinvk.commands.run import run
from clinvk.global_opts import option_table, read_options

SID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def fake(clinvk, tmp_path):
    clinvk.log = tmp_path / "fake.log"
    clinvk.add_fake_backend("fake", FAKE_SESSION_ID=SID, FAKE_LOG=str(clinvk.log))
    clinvk.log.write_text("")
    return clinvk


@pytest.fixture
def started(fake):
    """One recorded fake session; returns its clinvk id."""
    first = fake.run("-b", "fake", "-o", "json", "first")
    assert first.code == 0, first.err
    fake.log.write_text("")
    return first.json()["session_id"]


def _calls(fake) -> list[dict]:
    return [json.loads(line) for line in fake.log.read_text().splitlines()]


def _resumed(fake, sid: str, prompt: str) -> list[str]:
    """The argv of the one backend call, checked to be a resume of `sid` with `prompt`."""
    [call] = _calls(fake)
    argv = call["argv"]
    assert argv[argv.index("--resume") + 1] == SID, argv
    assert argv[-1] == prompt, argv
    [session] = fake.sessions()
    assert session["id"] == sid and session["turn_count"] == 2
    return argv


@pytest.mark.parametrize("opts", [["-o", "json"], ["--output-format=json"], ["-ojson"]])
def test_output_format_before_resume_resumes(fake, started, opts):
    result = fake.run(*opts, "resume", started[:8], "more")
    assert result.code == 0, result.err
    assert result.json()["session_id"] == started  # -o json meant json, for resume
    _resumed(fake, started, "more")


@pytest.mark.parametrize("opts", [["--timeout", "5"], ["--timeout=5"]])
def test_timeout_before_resume_resumes(fake, started, opts):
    result = fake.run(*opts, "resume", started[:8], "more")
    assert result.code == 0, result.err
    _resumed(fake, started, "more")


def test_model_and_backend_before_resume(fake, started):
    result = fake.run("-m", "big-model", "-b", "fake", "resume", started[:8], "more")
    assert result.code == 0, result.err
    argv = _resumed(fake, started, "more")
    assert argv[argv.index("--model") + 1] == "big-model"
    other = fake.run("-b", "claude", "resume", started[:8], "more")  # -b narrows resume's pick
    assert_clean_error(other, 2, "is a fake session, not claude")


def test_an_option_after_the_subcommand_wins(fake, started):
    result = fake.run("-m", "early", "resume", "-m", "late", started[:8], "more")
    assert result.code == 0, result.err
    argv = _resumed(fake, started, "more")
    assert argv[argv.index("--model") + 1] == "late"


@pytest.mark.parametrize("opts", [["-v"], ["--verbose"], ["--config", "{c}"], ["--config={c}"],
                                  ["-v", "--config", "{c}"]])
@pytest.mark.parametrize("cmd", [["sessions", "list"], ["sessions", "search", "x"],
                                 ["config", "show"], ["backends"], ["sessions", "--help"]])
def test_config_and_verbose_work_before_every_subcommand(clinvk, tmp_path, opts, cmd):
    bad = tmp_path / "c.yaml"
    bad.write_text("timeout_seconds: [\n")  # invalid: proves that this file is the one read
    argv = [o.format(c=bad) for o in opts]
    result = clinvk.run(*argv, *cmd)
    if cmd[-1] == "--help":
        assert result.code == 0 and "Commands:" in result.out, result.err
    elif "--config" in " ".join(argv):
        assert_clean_error(result, 2, str(bad))
    else:
        assert result.code == 0, result.err


def test_verbose_before_the_subcommand_turns_verbose_on(fake, started):
    result = fake.run("-v", "resume", started[:8], "more")
    assert result.code == 0, result.err
    assert "clinvk: running:" in result.err  # the -v line of the command run


@pytest.mark.parametrize("argv, shown, where", [
    (["-c", "resume", "abcd", "x"], "-c", "resume"),
    (["--new", "resume", "abcd", "x"], "--new", "resume"),
    (["-w", "/tmp", "resume", "abcd", "x"], "-w", "resume"),
    (["--title", "T", "resume", "abcd", "x"], "--title", "resume"),
    (["-t", "t1", "sessions", "list"], "-t", "sessions list"),
    (["--timeout", "5", "sessions", "list"], "--timeout", "sessions list"),
    (["-o", "json", "sessions", "export", "--all"], "-o", "sessions export"),
    (["-m", "x", "config", "show"], "-m", "config show"),
    (["-b", "fake", "backends"], "-b", "backends"),
    (["-vc", "sessions", "list"], "-c", "sessions list"),
])
def test_a_root_option_meaning_nothing_there_is_a_usage_error(fake, argv, shown, where):
    result = fake.run(*argv)
    assert_clean_error(result, 2, f"{shown} does not apply to `clinvk {where}`")
    assert _calls(fake) == []  # nothing ran, nothing billed
    assert fake.run("sessions", "list", "--json").json() == []


def test_option_values_and_quoted_prompts_are_never_subcommands(clinvk):
    cases = {
        ("-m", "resume", "hi"): ["--model", "resume", "--", "hi"],
        ("--model=sessions", "list"): ["--model", "sessions", "--", "list"],
        ("-b", "claude", "resume the work"): ["--", "resume the work"],
        ("resume the work",): ["--", "resume the work"],
        ("-v", "sessions list"): ["--", "sessions list"],
        ("--title", "resume", "go"): ["--", "go"],
        ("-t", "config", "go"): ["--", "go"],
        ("hi", "--", "resume"): ["resume", "--", "hi"],  # after --: the backend's arguments
    }
    for argv, tail in cases.items():
        result = clinvk.run("--dry-run", *argv)
        assert result.code == 0, (argv, result.err)
        words = result.out.split()
        assert " ".join(tail) in " ".join(w.strip("'") for w in words), (argv, result.out)


def test_dash_dash_resume_is_not_the_resume_command(clinvk):
    result = clinvk.run("--", "resume")
    assert_clean_error(result, 2, "no prompt given")  # run's error, not resume's "which session?"


# -- the reader on its own -------------------------------------------------------------------

TABLE = option_table(run.params)
VALUED = sorted(o for o, p in TABLE.items() if not p.is_flag)
FLAGS = sorted(o for o, p in TABLE.items() if p.is_flag)
words = st.sampled_from(["resume", "sessions", "config", "-v", "--", "-", "", "x y", "--json"])


@st.composite
def root_options(draw):
    """A run of root options as a user might write them, each value any text; and how many."""
    out: list[str] = []
    count = draw(st.integers(0, 5))
    for _ in range(count):
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(FLAGS)))
            continue
        opt = draw(st.sampled_from(VALUED))
        value = draw(st.one_of(words, st.text(max_size=8)))
        if opt.startswith("--") and draw(st.booleans()):
            out.append(f"{opt}={value}")
        elif not opt.startswith("--") and value and draw(st.booleans()):
            out.append(opt + value)
        else:
            out += [opt, value]
    return out, count


@settings(deadline=None)
@given(root_options(), st.sampled_from(["resume", "sessions", "hello", "--"]))
def test_reader_consumes_exactly_the_options_and_their_values(drawn, word):
    options, count = drawn
    found, start = read_options([*options, word, "more"], TABLE)
    assert start == len(options)
    assert len(found) == count


# -- before the subcommand means what it means after it ---------------------------------------

def _parsed(argv: list[str]) -> tuple:
    """The leaf command's parameters and the App's --config/-v, as Click parses `argv`; or
    ("error", message) when a value is refused (an empty -b or -m)."""
    import click

    from clinvk.errors import ClinvkError

    try:
        return _parsed_params(argv)
    except ClinvkError as exc:
        return "error", exc.message
    except click.ClickException as exc:
        return "error", exc.format_message()


def _parsed_params(argv: list[str]) -> tuple:
    import warnings

    import click

    from clinvk.app import App
    from clinvk.cli import cli

    app = App()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Context.protected_args
        ctx = cli.make_context("clinvk", list(argv), obj=app)
        command, rest = cli, [*ctx.protected_args, *ctx.args]
        while isinstance(command, click.Group):
            name, *rest = rest
            command = command.get_command(ctx, name)
            ctx = command.make_context(name, rest, parent=ctx)
    return ctx.params, app.config_flag, app.env.verbose


_value = st.text(max_size=6).filter(lambda v: v != "--")


@st.composite
def _option_groups(draw):
    """Root options that resume takes, each as (option, its tokens)."""
    choices = {
        "-o": st.sampled_from(["text", "json", "stream-json"]),
        "--timeout": st.integers(0, 10**6).map(str),
        "-m": _value, "--model": _value, "-b": _value, "--config": _value.filter(bool),
        "--dry-run": st.none(), "--ephemeral": st.none(), "--here": st.none(), "-v": st.none(),
    }
    out: list[tuple[str, list[str]]] = []
    for opt in draw(st.lists(st.sampled_from(sorted(choices)), max_size=6)):
        value = draw(choices[opt])
        if value is None:
            out.append((opt, [opt]))
        elif opt.startswith("--") and draw(st.booleans()):
            out.append((opt, [f"{opt}={value}"]))
        else:
            out.append((opt, [opt, value]))
    return out


LIST_TAKES = ("-b", "--here", "--config", "-v")  # list's filters and the common options


@settings(deadline=None, max_examples=150)
@given(_option_groups(), st.sampled_from([["resume", "abcd", "more"], ["resume"],
                                          ["sessions", "list"], ["sessions", "search", "q"]]))
def test_options_before_the_subcommand_mean_what_they_mean_after_it(groups, command):
    depth = 2 if command[0] == "sessions" else 1
    options = [token for opt, tokens in groups
               if depth == 1 or opt in LIST_TAKES for token in tokens]
    before = _parsed([*options, *command])
    after = _parsed([*command[:depth], *options, *command[depth:]])
    assert before == after

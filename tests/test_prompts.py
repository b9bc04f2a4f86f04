"""Prompts of any size and any bytes, and the numbers a user types for time (timeout, age)."""

from __future__ import annotations

import hashlib
import io
import math
import os
import sys
import tempfile
from datetime import timedelta

import pytest
from clinvk.backends import get_adapter
from clinvk.backends.base import ARGV_PROMPT_MAX, TurnRequest
from clinvk.backends.transcript import Message, Transcript
from conftest import Result, assert_clean_error, fake_calls, with_fake_backend
from hypothesis import given
from hypothesis import strategies as st

from clinvk.durations import parse_age, parse_timeout, seconds
from clinvk.errors import ExitCode, UsageError
from clinvk.handoff import MAX_ARG_BYTES, compose
from clinvk.prompt import clean
from clinvk.pty.runner import run_lines

SID = "11111111-2222-3333-4444-555555555555"
BIG = ("0123456789abcdef" * 8 + "\n") * 2400  # ~310 KB: over Linux's 128 KiB per argument


@pytest.fixture
def fake(clinvk, tmp_path):
    return with_fake_backend(clinvk, tmp_path, SID)


def _calls(fake) -> list[dict]:
    return fake_calls(fake)


def _run_bytes(fake, args: list[bytes], stdin: bytes | None = None) -> Result:
    """clinvk with raw bytes as arguments and on stdin (not necessarily UTF-8)."""
    done = fake.run(*args, stdin=stdin)
    return Result(done.code, done.out_bytes.decode(), done.err_bytes.decode())


# --- long prompts ---------------------------------------------------------------------------


def test_runner_hands_stdin_bytes_to_the_child_whole_with_output_on_the_pty(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value, no line ends to cut at
    code = ("import sys, hashlib; d = sys.stdin.buffer.read(); "
            "print(len(d), hashlib.sha256(d).hexdigest(), sys.stdin.isatty(), sys.stdout.isatty())")
    lines: list[str] = []
    result = run_lines([sys.executable, "-c", code], cwd=str(tmp_path), env={"PATH": "/usr/bin"},
                       on_line=lines.append, stdin=data)
    assert result.exit_code == 0
    assert lines == [f"{len(data)} {hashlib.sha256(data).hexdigest()} False True"]
    assert list(tmp_path.iterdir()) == []  # the file that held it is gone


def _long(**kw) -> TurnRequest:
    return TurnRequest(**{"prompt": "é" * ARGV_PROMPT_MAX, "command": "/bin/x", **kw})


@pytest.mark.parametrize("resume, fork", [(None, False), ("R1", False), ("R1", True)])
def test_a_long_prompt_leaves_the_argv_and_goes_on_stdin(resume, fork):
    claude, codex, gemini = (get_adapter(n) for n in ("claude", "codex", "gemini"))
    request = _long(resume_id=resume, fork=fork, model="m")
    resumed = ["--resume", "R1"] if resume else []
    assert claude.build_argv(request) == [
        "/bin/x", "-p", "--output-format", "stream-json", "--verbose",
        "--include-partial-messages", *resumed, *(["--fork-session"] if fork else []),
        "--model", "m"]
    assert codex.build_argv(request) == [
        "/bin/x", "exec", "--json", "--skip-git-repo-check", "-m", "m",
        *(["resume", "R1"] if resume else []), "-"]
    assert gemini.build_argv(request) == ["/bin/x", "--output-format", "stream-json", *resumed,
                                          "-m", "m"]
    for adapter in (claude, codex, gemini):
        assert adapter.stdin_input(request) == request.prompt.encode()


def test_a_prompt_that_fits_an_argument_stays_one():
    request = TurnRequest(prompt="x" * ARGV_PROMPT_MAX, command="/bin/x")
    for name in ("claude", "codex", "gemini"):
        adapter = get_adapter(name)
        assert adapter.stdin_input(request) is None
        assert any(request.prompt in arg for arg in adapter.build_argv(request))


def test_piped_prompt_over_128_kib_runs_and_is_recorded(fake):
    """`git diff | clinvk "review this"` with a big diff: was OSError E2BIG, nothing recorded."""
    result = fake.run("-b", "fake", "review this", stdin=BIG)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    [call] = _calls(fake)
    assert call["stdin"] == "review this\n\n" + BIG.rstrip("\n")
    assert not any("review this" in arg for arg in call["argv"])
    [session] = fake.sessions()
    assert session["status"] == "active" and session["turn_count"] == 1
    assert session["token_usage"]["total_tokens"] == 24
    assert session["turns"][0]["prompt"].startswith("review this")


def test_dry_run_shows_where_a_long_prompt_goes(fake):
    result = fake.run("-b", "fake", "--dry-run", "review this", stdin=BIG)
    assert result.code == 0, result.err
    size = len(("review this\n\n" + BIG.rstrip("\n")).encode())
    assert result.out.rstrip("\n").endswith(f"--include-partial-messages < (prompt on stdin, "
                                            f"{size} bytes)")
    assert not fake.log.exists()


def test_an_interactive_hand_over_fits_one_argument_in_bytes():
    """Without PROMPT the conversation is an argument of the backend's interface: older turns
    are dropped until it fits in bytes, also when max_chars characters would not."""
    turns = [Message("user", "ü" * 40_000), Message("assistant", "€" * 40_000)] * 3
    text = compose(Transcript("codex", messages=turns), "claude", "", 100_000, max_bytes=MAX_ARG_BYTES)
    assert len(text.encode()) <= MAX_ARG_BYTES
    assert text.rstrip().endswith("€" * 100 + "\n</previous_conversation>")
    # a headless hand-over goes on stdin: max_chars alone decides what is kept
    whole = compose(Transcript("codex", messages=turns), "claude", "go on", 10**6)
    assert whole.count("€") == 3 * 40_000


# --- any bytes ------------------------------------------------------------------------------


def _warnings(result: Result) -> list[str]:
    return [line for line in result.err.splitlines() if line.startswith("clinvk: warning:")]


def test_argument_with_undecodable_bytes_is_sent_and_recorded_with_u_fffd(fake):
    result = _run_bytes(fake, [b"-b", b"fake", b"caf\xe9 \xff\xfe ok"])
    assert result.code == 0, result.err
    assert "Traceback" not in result.err and "error" not in result.err
    [warning] = _warnings(result)
    assert "3 NUL or non-UTF-8 byte(s)" in warning and "U+FFFD" in warning
    [call] = _calls(fake)
    assert call["argv"][-1] == "caf\ufffd \ufffd\ufffd ok"
    [session] = fake.sessions()
    assert session["turns"][0]["prompt"] == "caf\ufffd \ufffd\ufffd ok"
    assert session["status"] == "active" and session["token_usage"]["total_tokens"] == 24


@pytest.mark.parametrize("size", [100, 200_000])  # as an argument, and on the backend's stdin
def test_stdin_with_invalid_utf8_and_nul_is_sent_and_recorded(fake, size):
    piped = b"x" * size + b" bad \xc3\x28 and nul \x00 here\n"
    result = _run_bytes(fake, [b"-b", b"fake", b"look:"], stdin=piped)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err and "clinvk: error" not in result.err
    assert len(_warnings(result)) == 1
    expected = "look:\n\n" + "x" * size + " bad \ufffd( and nul \ufffd here"
    [call] = _calls(fake)
    sent = call["stdin"] if call["stdin"] is not None else call["argv"][-1]
    assert sent == expected
    [session] = fake.sessions()
    assert session["status"] == "active" and session["turns"][0]["exit_code"] == 0
    assert session["token_usage"]["total_tokens"] == 24


def test_title_and_tags_with_undecodable_bytes_do_not_lose_the_turn(fake):
    result = _run_bytes(fake, [b"-b", b"fake", b"--title", b"t\xff", b"-t", b"x\xfe", b"hi"])
    assert result.code == 0, result.err
    assert len(_warnings(result)) == 1
    [session] = fake.sessions()
    assert session["title"] == "t\ufffd" and "x\ufffd" in session["tags"]


def _run_in(fake, cwd: bytes, args: list[bytes], env: dict | None = None) -> Result:
    done = fake.run(*args, cwd=cwd, env=env)
    return Result(done.code, done.out_bytes.decode(), done.err_bytes.decode())


def _never_spawned(fake, result: Result, *needles: str) -> None:
    assert_clean_error(result, 2, *needles)
    assert not fake.log.exists(), "the backend was started"
    assert fake.sessions() == []


@pytest.mark.parametrize("args", [
    [b"-m", b"op\xffus"],  # the model would be another model: refused, not replaced
    [b"-w", b"d\xff"],  # the working directory would be another folder
    [b"--dry-run", b"-m", b"op\xffus"],  # a dry run says what the run would do
])
def test_an_unstorable_model_or_workdir_is_refused_before_spawning(fake, args):
    os.makedirs(os.path.join(os.fsencode(fake.cwd), b"d\xff"), exist_ok=True)
    result = _run_bytes(fake, [b"-b", b"fake", *args, b"hi"])
    _never_spawned(fake, result, "not UTF-8")
    assert "\\xff" in result.err  # the byte shown escaped, on one line
    assert result.out == ""


def test_a_model_from_the_environment_is_checked_too(fake):
    result = _run_in(fake, os.fsencode(fake.cwd), [b"-b", b"fake", b"hi"],
                     env={"CLINVK_MODEL": os.fsdecode(b"m\xfe")})
    _never_spawned(fake, result, "model name", "not UTF-8")


def test_a_current_directory_whose_path_is_not_utf8_is_refused_before_spawning(fake):
    odd = os.path.join(os.fsencode(fake.cwd), b"caf\xe9")
    os.mkdir(odd)
    _never_spawned(fake, _run_in(fake, odd, [b"-b", b"fake", b"hi"]),
                   "cannot record a session in a directory whose path is not UTF-8", "caf\\xe9")
    for args in ([b"-c", b"--here", b"hi"], [b"sessions", b"list", b"--here"]):
        result = _run_in(fake, odd, args)  # reads that filter on it find nothing, cleanly
        assert "Traceback" not in result.err and "internal error" not in result.err, result.err
        assert result.code in (0, 2)
    # nothing is recorded with --ephemeral: the backend runs there, given the path's bytes
    result = _run_in(fake, odd, [b"-b", b"fake", b"--ephemeral", b"hi"])
    assert result.code == 0, result.err
    [call] = _calls(fake)
    assert os.fsencode(call["cwd"]) == odd


def test_passthrough_bytes_reach_the_backend_unchanged_and_the_turn_is_recorded(fake):
    # arguments after `--` are not recorded: they go to the backend byte for byte
    result = _run_bytes(fake, [b"-v", b"-b", b"fake", b"hi", b"--", b"--x=\xff"])
    assert result.code == 0, result.err
    [call] = _calls(fake)
    assert b"--x=\xff" in [os.fsencode(arg) for arg in call["argv"]]
    assert "$'--x=\\xff'" in result.err  # the -v line: the byte escaped, as bash reads it
    [session] = fake.sessions()
    assert session["turn_count"] == 1 and session["status"] == "active"


def test_metadata_is_cleaned_like_title_and_tags():
    from clinvk.env import Environment
    from clinvk.prompt import clean_spec
    from clinvk.turn_plan import TurnSpec

    spec = TurnSpec(prompt="hi", backend="claude", metadata={"k\udcff": "v\x00\ud800"})
    err = io.StringIO()
    clean_spec(spec, Environment(stdin=None, stdout=io.StringIO(), stderr=err, cwd="/"))
    assert spec.metadata == {"k\ufffd": "v\ufffd\ufffd"}
    assert "metadata held 3" in err.getvalue()


@given(st.text())
def test_clean_leaves_nothing_unsendable(text):
    out, count = clean(text)
    out.encode("utf-8")  # storable
    assert "\x00" not in out and len(out) == len(text)
    assert count == sum(1 for a, b in zip(text, out, strict=True) if a != b)
    assert (count == 0) == (out == text)


# --- timeouts and ages ----------------------------------------------------------------------


@given(st.one_of(st.floats(), st.integers(), st.text(), st.booleans(), st.none()))
def test_seconds_is_finite_and_not_negative_or_refused(value):
    try:
        number = seconds(value)
    except ValueError:
        return
    assert isinstance(number, float) and math.isfinite(number) and number >= 0
    assert not isinstance(value, bool) and value is not None


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_timeout_parser_on_any_float_text(value):
    text = repr(value)
    if math.isfinite(value) and value >= 0:
        assert parse_timeout(text) == value
    else:
        with pytest.raises(UsageError) as info:
            parse_timeout(text)
        assert info.value.exit_code == ExitCode.USAGE and "--timeout" in info.value.message


@given(st.sampled_from("smhdw"), st.integers(min_value=0, max_value=10**5))
def test_age_must_be_positive(unit, n):
    if n == 0:
        with pytest.raises(UsageError) as info:
            parse_age(f"{n}{unit}")
        assert "retention_days: 0 keeps everything" in info.value.message
    else:
        assert parse_age(f"{n}{unit}") > timedelta(0)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "1e999", "NaN", "abc"])
def test_timeout_flag_refuses_what_is_not_a_finite_number(fake, value):
    result = fake.run("-b", "fake", "--timeout", value, "hi")
    assert_clean_error(result, 2, "--timeout", "finite number of seconds")
    assert not fake.log.exists()


@pytest.mark.parametrize("value", ["nan", "inf", "1.0e999", "-5"])
def test_timeout_variable_refuses_what_is_not_a_finite_number(fake, value):
    result = fake.run("-b", "fake", "hi", env={"CLINVK_TIMEOUT": value})
    assert_clean_error(result, 2, "CLINVK_TIMEOUT", "finite number of seconds")
    assert not fake.log.exists()


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "-1"])
def test_timeout_config_refuses_what_is_not_a_finite_number(fake, value):
    path = fake.home / "config.yaml"
    path.write_text(path.read_text() + f"timeout_seconds: {value}\n")
    result = fake.run("-b", "fake", "hi")
    assert_clean_error(result, 2, "timeout_seconds", "finite number of seconds")
    assert not fake.log.exists()


@pytest.mark.parametrize("age", ["0d", "0s", "0w"])
def test_clean_older_than_zero_is_refused_and_deletes_nothing(fake, age):
    assert fake.run("-b", "fake", "keep me").code == 0
    result = fake.run("sessions", "clean", "--older-than", age)
    assert_clean_error(result, 2, "positive duration", "retention_days: 0 keeps everything")
    assert len(fake.sessions()) == 1

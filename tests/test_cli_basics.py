"""The CLI surface through clinvk's entry point: help, version, config, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_clean_error


def test_help_lists_options_and_commands(clinvk):
    result = clinvk.run("--help")
    assert result.code == 0
    for needle in ("--backend", "--continue", "--ephemeral", "--dry-run", "--timeout",
                   "resume", "sessions", "config", "backends", "124"):
        assert needle in result.out


@pytest.mark.parametrize("args", [
    ["resume", "--help"], ["sessions", "--help"], ["sessions", "list", "--help"],
    ["sessions", "show", "--help"], ["sessions", "delete", "--help"],
    ["sessions", "clean", "--help"], ["config", "--help"], ["config", "show", "--help"],
    ["config", "path", "--help"], ["config", "init", "--help"], ["backends", "--help"],
])
def test_every_command_has_help(clinvk, args):
    result = clinvk.run(*args)
    assert result.code == 0 and "Usage:" in result.out, result.err


def test_version(clinvk):
    result = clinvk.run("--version")
    assert result.code == 0 and result.out.startswith("clinvk ")


def test_help_does_not_import_heavy_modules():
    code = ("import sys\nfrom clinvk.launch import run_cli\nimport contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()): run_cli(['--help'])\n"
            "print(','.join(m for m in ('pexpect', 'yaml', 'humanize', 'sqlite3') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_dash_m_and_unknown_backend(clinvk):
    result = clinvk.run("-b", "nosuch", "hello")
    assert_clean_error(result, 2, "unknown backend 'nosuch'")


def test_here_alone_is_a_usage_error(clinvk):
    assert_clean_error(clinvk.run("--here", "hi"), 2, "--here")


def test_backend_not_installed_exit_3(clinvk):
    clinvk.config("backends:\n  claude:\n    command: definitely-not-installed-xyz\n")
    result = clinvk.run("hello")
    assert_clean_error(result, 3, "definitely-not-installed-xyz", "npm install")


def test_dry_run_prints_command_and_records_nothing(clinvk):
    clinvk.config("backends:\n  codex:\n    extra_flags: [--foo]\n")
    result = clinvk.run("--dry-run", "-b", "codex", "-m", "gpt-x", "it's", "(odd)",
                        "--", "--bar")
    assert result.code == 0, result.err
    line = result.out.strip()
    assert line.startswith("codex ") and "gpt-x" in line and "--foo" in line and "--bar" in line
    assert "'it'\"'\"'s (odd)'" in line  # shell-quoted prompt
    assert not (clinvk.home / "sessions").exists()


def test_invalid_yaml_names_file_and_line(clinvk):
    path = clinvk.config("session:\n  retention_days: [1,\n")
    result = clinvk.run("sessions", "list")
    assert_clean_error(result, 2, str(path), "line")


def test_wrong_type_names_key_and_expectation(clinvk):
    clinvk.config("session:\n  retention_days: soon\n")
    result = clinvk.run("config", "show")
    assert_clean_error(result, 2, "session.retention_days", "whole number")


def test_unknown_key_is_a_warning(clinvk):
    clinvk.config("colour: blue\nsession:\n  retention_days: 5\n")
    result = clinvk.run("config", "show")
    assert result.code == 0
    assert "unknown key 'colour'" in result.err


def test_config_show_says_where_values_come_from(clinvk):
    clinvk.config("session:\n  retention_days: 5\n")
    result = clinvk.run("config", "show", "--json", env={"CLINVK_BACKEND": "gemini",
                                                         "CLINVK_TIMEOUT": "30"})
    settings = result.json()["settings"]
    assert settings["default_backend"] == {"value": "gemini", "source": "env CLINVK_BACKEND"}
    assert settings["timeout_seconds"]["value"] == 30
    assert settings["session.retention_days"]["source"].startswith("file ")
    assert settings["output.format"] == {"value": "text", "source": "default"}


def test_flag_beats_env_beats_file(clinvk):
    clinvk.config("default_backend: codex\n")
    base = clinvk.run("--dry-run", "hi")
    assert base.out.startswith("codex ")
    env = clinvk.run("--dry-run", "hi", env={"CLINVK_BACKEND": "gemini"})
    assert env.out.startswith("gemini ")
    flag = clinvk.run("--dry-run", "-b", "claude", "hi", env={"CLINVK_BACKEND": "gemini"})
    assert flag.out.startswith("claude ")


def test_config_path_and_init(clinvk, tmp_path):
    target = tmp_path / "cfg" / "my.yaml"
    result = clinvk.run("config", "path", "--config", str(target))
    assert_clean_error(result, 2, str(target))  # an explicit file must exist
    result = clinvk.run("config", "path")
    assert result.out.strip() == str(clinvk.home / "config.yaml")
    result = clinvk.run("config", "init")
    assert result.code == 0
    text = (clinvk.home / "config.yaml").read_text()
    for key in ("default_backend", "timeout_seconds", "retention_days", "auto_clean",
                "store_token_usage", "store_prompts", "default_tags", "show_tokens", "color",
                "max_chars", "extra_flags"):
        assert key in text
    again = clinvk.run("config", "init")
    assert again.code == 0 and "exists" in again.err


def test_shipped_example_is_the_documented_one():
    """`config init` writes the package's copy; it must be the repo's config.example.yaml."""
    root = Path(__file__).resolve().parents[1]
    shipped = root / "clinvk" / "config.example.yaml"
    assert not shipped.is_symlink()  # a symlink does not survive every way the tree is copied
    assert shipped.read_text() == (root / "config.example.yaml").read_text()


def test_bad_timeout_env(clinvk):
    assert_clean_error(clinvk.run("--dry-run", "hi", env={"CLINVK_TIMEOUT": "soon"}), 2,
                       "CLINVK_TIMEOUT")


def test_a_removed_current_directory(clinvk, tmp_path):
    """Started in a directory removed under the shell: commands that need no directory
    work; those that do (a new turn, --here) say so in one line, exit 2; no traceback."""
    from conftest import with_fake_backend

    with_fake_backend(clinvk, tmp_path, "11111111-2222-3333-4444-555555555555")
    assert clinvk.run("-b", "fake", "hello").code == 0
    gone = tmp_path / "gone"

    def run(*args: str) -> subprocess.CompletedProcess:
        gone.mkdir()
        script = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
        return subprocess.run(["sh", "-c", script, "sh", str(gone), sys.executable, "-m",
                               "clinvk", *args], env=clinvk.env, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)

    listed = run("sessions", "list")
    assert listed.returncode == 0 and "hello" in listed.stdout and listed.stderr == ""
    for args in (("-b", "fake", "hi"), ("sessions", "list", "--here"), ("-c", "--here", "x")):
        done = run(*args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr == ("clinvk: error: the current directory cannot be read (was it "
                               "removed?): cd to one that exists\n")
    assert run("-w", str(tmp_path), "-b", "fake", "in a directory given").returncode == 0
    shown = run("-w", str(tmp_path), "--dry-run", "-b", "fake", "hi")  # and -v: the same line
    assert shown.returncode == 0 and shown.stdout.startswith(f"cd {tmp_path} && "), shown.stderr
    assert len(clinvk.sessions()) == 2


@pytest.mark.parametrize("text, key", [
    ('backends:\n  claude:\n    env: {"A=B": x}\n', "backends.claude.env"),
    ('backends:\n  claude:\n    env: {"": x}\n', "backends.claude.env"),
    ('backends:\n  claude:\n    env: {A: "x\\0y"}\n', "backends.claude.env"),
    ('backends:\n  claude:\n    extra_flags: ["a\\0b"]\n', "backends.claude.extra_flags"),
    ('backends:\n  claude:\n    command: "cla\\0ude"\n', "backends.claude.command"),
])
def test_what_no_environment_or_argv_can_hold_is_a_config_error(clinvk, text, key):
    """Refused as the file's error, exit 2 (was exit 1 from the spawn: `illegal environment
    variable name`, `embedded null byte`)."""
    clinvk.config(text)
    assert_clean_error(clinvk.run("--dry-run", "hi"), 2, "config.yaml", key)


def test_a_config_that_is_no_file_or_endless_is_refused(clinvk, tmp_path):
    """--config /dev/zero read until memory ran out; a file of 2 MB is no configuration;
    a pipe (`--config <(...)`) still works."""
    assert_clean_error(clinvk.run("--config", "/dev/zero", "--dry-run", "hi"), 2, "not a file")
    big = tmp_path / "big.yaml"
    big.write_text("#" * 2_000_000)
    assert_clean_error(clinvk.run("--config", str(big), "--dry-run", "hi"), 2, "larger than")
    read, write = os.pipe()
    os.write(write, b"default_backend: codex\n")
    os.close(write)
    try:
        done = clinvk.run("--config", f"/dev/fd/{read}", "--dry-run", "hi")
    finally:
        os.close(read)
    assert done.code == 0 and done.out.startswith("codex exec"), done.err


def test_config_init_makes_the_file_that_config_or_clinvk_config_names(clinvk, tmp_path):
    """Refused before ("config file ... does not exist": the settings read it first)."""
    named = tmp_path / "named.yaml"
    done = clinvk.run("--config", str(named), "config", "init")
    assert done.code == 0 and named.read_text().startswith("#") and named.stat().st_mode & 0o777 == 0o600
    by_env = tmp_path / "env.yaml"
    assert clinvk.run("config", "init", env={"CLINVK_CONFIG": str(by_env)}).code == 0
    assert by_env.exists() and not (clinvk.home / "config.yaml").exists()


def test_a_workdir_that_is_a_file_is_named_so(clinvk, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert_clean_error(clinvk.run("-w", str(afile), "--dry-run", "hi"), 2,
                       f"working directory {afile} is not a directory")
    assert_clean_error(clinvk.run("-w", str(tmp_path / "none"), "--dry-run", "hi"), 2,
                       "does not exist")


@pytest.mark.parametrize("args, option", [
    (["-b", "", "hi"], "-b/--backend"), (["--backend=", "hi"], "-b/--backend"),
    (["-m", "", "hi"], "-m/--model"), (["-w", "", "hi"], "-w/--workdir"),
    (["-b", "", "sessions", "list"], "-b/--backend"), (["sessions", "list", "-b", ""], "-b/--backend"),
    (["sessions", "stats", "-b", ""], "-b/--backend"), (["sessions", "adopt", "-b", ""], "-b/--backend"),
    (["resume", "--last", "-b", "", "more"], "-b/--backend"),
    (["resume", "--last", "-m", "", "more"], "-m/--model"),
    (["resume", "--last", "--to", "", "more"], "--to"),
    (["sessions", "import", "--new-id", "--workdir", "", "b.json"], "--workdir"),
    (["sessions", "list", "--tag", ""], "-t/--tag"), (["sessions", "export", "-t", ""], "-t/--tag"),
])
def test_an_empty_name_is_refused_not_read_as_left_out(clinvk, args, option):
    """`-b "$UNSET"`: one error line naming the option, exit 2, before any backend runs or
    anything is written (it used to run the default backend, list every backend's sessions,
    or import into the current directory)."""
    result = clinvk.run(*args)
    assert_clean_error(result, 2, f"{option} must not be empty")
    assert result.out == ""
    assert not (clinvk.home / "sessions").exists() or not any((clinvk.home / "sessions").rglob("*.json"))


@pytest.mark.parametrize("group", ["sessions", "config"])
def test_a_group_run_bare_shows_its_help_on_lines(clinvk, group):
    """`clinvk sessions` with no subcommand: its help, line by line (it came as one line of
    literal `\\n`s), exit 2 as Click gives it."""
    result = clinvk.run(group)
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines[0].startswith(f"Usage: clinvk {group} [OPTIONS] COMMAND") and len(lines) > 8
    assert "\\n" not in result.err


@pytest.mark.parametrize("encoding, shown", [("ascii", r"'\xe9'"), ("latin-1", r"'\u2713'")])
def test_an_output_encoding_that_cannot_show_the_text_is_one_clear_line(clinvk, encoding, shown):
    """PYTHONIOENCODING names an encoding without the title's or the prompt's letters: one
    line saying so, not an internal error."""
    result = clinvk.run_process("--dry-run", "héllo ✓", env={"PYTHONIOENCODING": encoding})
    assert result.code == 1 and result.out == ""
    assert result.err.strip().splitlines() == [
        f"clinvk: error: cannot write the output (its encoding {encoding} cannot show {shown})"]


def test_a_prompt_piped_in_past_16_mib_is_refused_before_anything_runs(clinvk):
    """`clinvk "x" < /dev/zero` read until memory ran out (MemoryError, an internal error);
    300 MB took 3 GB. Past 16 MiB it is a usage error; up to it the prompt goes through."""
    limit = 16 << 20
    over = clinvk.run("--dry-run", "hi", stdin=b"a" * (limit + 1))
    assert_clean_error(over, 2, "larger than 16 MiB")
    assert over.out == ""
    at = clinvk.run("--dry-run", "hi", stdin=b"a" * limit)
    assert at.code == 0 and at.out.startswith("claude "), at.err


def test_a_model_name_too_long_to_record_is_refused_unless_ephemeral(clinvk):
    """A 201-character -m went to the backend while the record kept no model, silently, so
    that later resumes lost it. It is refused before anything runs; --ephemeral records
    nothing and takes it."""
    long_name = "m" * 201
    assert_clean_error(clinvk.run("--dry-run", "-m", long_name, "hi"), 2, "longer than 200")
    ephemeral = clinvk.run("--dry-run", "--ephemeral", "-m", long_name, "hi")
    assert ephemeral.code == 0 and long_name in ephemeral.out, ephemeral.err

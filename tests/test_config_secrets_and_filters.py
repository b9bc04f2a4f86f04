"""`config init` writes a private file and `config show` masks backend env values (API keys);
`sessions export` filters exactly as `sessions list` does (one definition)."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timezone

import pytest
from conftest import assert_clean_error

from clinvk.store import SessionStore
from clinvk.store.session import add_turn, new_session

KEY = "sk-ant-api03-0123456789abcdefWXYZ"


def test_config_init_writes_0600_in_a_new_0700_folder(clinvk):
    old = os.umask(0o022)
    try:
        result = clinvk.run("config", "init")
    finally:
        os.umask(old)
    assert result.code == 0, result.err
    path = clinvk.home / "config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(clinvk.home.stat().st_mode) == 0o700
    assert "env" in path.read_text()


def test_config_init_into_an_existing_folder_leaves_its_mode(clinvk):
    clinvk.home.mkdir()
    os.chmod(clinvk.home, 0o755)
    result = clinvk.run("config", "init")
    assert result.code == 0, result.err
    assert stat.S_IMODE((clinvk.home / "config.yaml").stat().st_mode) == 0o600
    assert stat.S_IMODE(clinvk.home.stat().st_mode) == 0o755


@pytest.fixture
def with_keys(clinvk):
    clinvk.config("backends:\n  claude:\n    env:\n"
                  f"      ANTHROPIC_API_KEY: {KEY}\n      SHORT_SECRET: hunter2\n      EMPTY: ''\n")
    return clinvk


def test_config_show_masks_backend_env_values(with_keys):
    result = with_keys.run("config", "show")
    assert result.code == 0, result.err
    assert KEY not in result.out and KEY[:-4] not in result.out and "hunter2" not in result.out
    [line] = [x for x in result.out.splitlines() if x.startswith("backends.claude.env")]
    assert "ANTHROPIC_API_KEY" in line and "****WXYZ" in line and '"SHORT_SECRET": "****"' in line
    assert line.endswith(f"# file {with_keys.home / 'config.yaml'}")


def test_config_show_json_masks_too(with_keys):
    result = with_keys.run("config", "show", "--json")
    assert result.code == 0, result.err
    assert KEY not in result.out and "hunter2" not in result.out
    env = result.json()["settings"]["backends.claude.env"]
    assert env["value"] == {"ANTHROPIC_API_KEY": "****WXYZ", "SHORT_SECRET": "****", "EMPTY": ""}


def test_the_backend_still_gets_the_real_value(with_keys, tmp_path):
    """Masking is for printing only: a fake claude sees the key as written."""
    fake = tmp_path / "bin"
    fake.mkdir()
    script = fake / "claude"
    script.write_text("#!/bin/sh\necho \"$ANTHROPIC_API_KEY\" > \"$0.seen\"\nexit 3\n")
    script.chmod(0o755)
    with_keys.run("hi", env={"PATH": f"{fake}:{os.environ['PATH']}"})
    assert (fake / "claude.seen").read_text().strip() == KEY


# -- export uses list's filters ---------------------------------------------------------------

def _session_last_used(home, at: datetime, tags: tuple[str, ...] = ()) -> dict:
    record = new_session("claude", "/w/a", now=at, tags=tags, backend_session_id="b-1")
    add_turn(record, prompt="hello", duration_ms=1000, exit_code=0, at=at,
             usage={"input_tokens": 1, "output_tokens": 1})
    store = SessionStore(home)
    try:
        return store.create(record)
    finally:
        store.close()


@pytest.fixture
def nov1(clinvk):
    clinvk.config("session:\n  auto_clean: false\n")
    return _session_last_used(clinvk.home, datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc),
                              tags=("work",))


def _exported(result) -> list[str]:
    assert result.code == 0, result.err
    return [entry["session"]["id"] for entry in result.json()["sessions"]]


def _listed(result) -> list[str]:
    assert result.code == 0, result.err
    return [record["id"] for record in result.json()]


@pytest.mark.parametrize("filters, hit", [
    (["--until", "2026-11-01"], True),
    (["--since", "2026-11-01", "--until", "2026-11-01"], True),
    (["--until", "2026-10-31"], False),
    (["--since", "2026-11-02"], False),
    (["--until", "2026-11-01T12:00:00Z"], True),
    (["-t", "work"], True),
    (["--tag", "work", "--until", "2026-11-01"], True),
    (["--tag", "other"], False),
])
def test_export_selects_what_list_lists(clinvk, nov1, filters, hit):
    listed = _listed(clinvk.run("sessions", "list", "--json", *filters))
    exported = _exported(clinvk.run("sessions", "export", "--no-transcript", *filters))
    assert listed == exported == ([nov1["id"]] if hit else [])


def test_export_filters_are_list_filters(clinvk):
    """The same options, spelled the same, with the same help."""
    from clinvk.commands.sessions import list_cmd
    from clinvk.commands.transfer import export_cmd

    def options(command) -> dict[str, tuple]:
        return {p.name: (tuple(p.opts), p.help) for p in command.params
                if p.name in ("backend", "status", "here", "tags", "since", "until", "search", "meta")}

    assert options(export_cmd) == options(list_cmd)
    assert len(options(list_cmd)) == 8


@pytest.mark.parametrize("bad, says", [(["--until", "2026-13-45"], "7d"),
                                        (["--meta", "novalue"], "KEY=VALUE")])
def test_export_rejects_bad_filters_as_list_does(clinvk, bad, says):
    for cmd in (["sessions", "list"], ["sessions", "export"]):
        assert_clean_error(clinvk.run(*cmd, *bad), 2, says)


def test_export_needs_ids_all_or_filters(clinvk, nov1):
    assert_clean_error(clinvk.run("sessions", "export"), 2, "which sessions?")
    both = clinvk.run("sessions", "export", nov1["id"][:8], "--until", "2026-11-01")
    assert_clean_error(both, 2, "not both")
    assert json.loads(clinvk.run("sessions", "export", "--all").out)["sessions"]

"""`clinvk backends` names the versions clinvk was tested with and warns about others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clinvk.backends.versions import TESTED, is_tested, parse_version, range_text
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(("text", "want"), [
    ("2.1.330 (Claude Code)", (2, 1, 330)), ("codex-cli 0.169.0", (0, 169, 0)),
    ("0.61.0", (0, 61, 0)), ("v1.2.3-beta", (1, 2, 3)), ("no version here", None),
    ("1.2", None), ("", None), (None, None),
])
def test_parse_version(text, want) -> None:
    assert parse_version(text) == want


@given(st.tuples(*[st.integers(0, 10_000)] * 3), st.text(max_size=20), st.text(max_size=20))
def test_parse_version_finds_the_version_in_any_line(version, before, after) -> None:
    before = before.rstrip("0123456789.")
    after = after.lstrip("0123456789.")
    line = f"{before} {'.'.join(map(str, version))} {after}"
    assert parse_version(line) is not None
    assert parse_version(f"{'.'.join(map(str, version))} {after}") == version


def test_ranges() -> None:
    assert range_text("claude") == "2.1.197–2.1.330"
    assert range_text("codex") == "0.169.0" and range_text("gemini") == "0.61.0"
    assert is_tested("claude", "2.1.197 (Claude Code)") and is_tested("claude", "2.1.250")
    assert is_tested("claude", "2.1.196") is False and is_tested("claude", "2.1.331") is False
    assert is_tested("codex", "codex-cli 0.170.0") is False
    assert is_tested("claude", None) is None and is_tested("custom", "1.0.0") is None
    assert set(TESTED) == {"claude", "codex", "gemini"}


def _fake(bin_dir: Path, name: str, version: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\necho '{version}'\n")
    script.chmod(0o755)


def test_backends_warns_about_a_version_outside_the_range_text(clinvk, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    _fake(bin_dir, "claude", "2.1.100 (Claude Code)")
    _fake(bin_dir, "codex", "codex-cli 0.169.0")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    shown = clinvk.run("backends", env=env)
    assert shown.code == 0, shown.err
    claude_line = next(line for line in shown.out.splitlines() if line.startswith("claude"))
    assert "2.1.100" in claude_line and "tested 2.1.197–2.1.330" in claude_line
    warnings = [line for line in shown.err.splitlines() if line.startswith("clinvk: warning:")]
    assert len(warnings) == 1 and "claude 2.1.100" in warnings[0], shown.err
    assert "2.1.197–2.1.330" in warnings[0]

    listed = clinvk.run("backends", "--json", env=env)
    rows = {r["name"]: r for r in json.loads(listed.out)}
    assert rows["claude"]["version_tested"] is False
    assert rows["claude"]["tested_versions"] == "2.1.197–2.1.330"
    assert rows["codex"]["version_tested"] is True
    assert rows["gemini"]["installed"] is False and rows["gemini"]["version_tested"] is None


def test_a_tested_version_gives_no_warning(clinvk, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    _fake(bin_dir, "claude", "2.1.197 (Claude Code)")
    shown = clinvk.run("backends", env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert shown.code == 0 and "warning" not in shown.err, shown.err

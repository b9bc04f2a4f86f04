"""What a turn has imported by the time its backend is forked, on each real adapter (issue 9
§8): the standard library's errno, fcntl, select and termios (and the built-in sha256 for the
config cache's digest), and clinvk's own small modules.
Everything else (Click, yaml, sqlite3, json, re, enum, pathlib, typing, ...) comes after the
spawn, while the backend starts, or not at all.

The turn runs in a fresh interpreter without `site` (an editable install's import hook
imports re, enum and pathlib at start-up, which would hide them), with clinvk laid out as
installed, and a stub backend on PATH that prints a real sample output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(__file__).resolve().parent / "samples"
OUTPUT = {"claude": "claude-stream-json.jsonl", "codex": "codex-exec-json.jsonl",
          "gemini": "gemini-stream-json.jsonl"}

# imported before the spawn, they would cost every turn: the launch path must not load them
HEAVY = ("click", "yaml", "humanize", "pexpect", "ptyprocess", "sqlite3", "json", "re", "enum",
         "typing", "pathlib", "dataclasses", "inspect", "collections", "functools", "contextlib",
         "copy", "signal", "struct", "threading", "hashlib", "datetime", "importlib.util",
         "warnings", "shutil", "tempfile", "pty", "tty", "clinvk.store", "clinvk.recorder",
         "clinvk.archive", "clinvk.display")

PROBE = r"""
import os, sys
sys.path.insert(0, os.environ["PROBE_LIB"])
sys.path.append(os.environ["PROBE_SITE"])  # yaml, for a config file's first parse (no .pth run)
already = set(sys.modules)
def hook(event, args):
    if event == "os.forkpty":
        with open(os.environ["PROBE_OUT"], "w") as fh:
            fh.write(" ".join(sorted(m for m in sys.modules if m not in already)))
sys.addaudithook(hook)
from clinvk.launch import main
main(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """clinvk laid out as an installed package (clinvk.backends lives in backends/)."""
    lib = tmp_path_factory.mktemp("lib")
    package = lib / "clinvk"
    package.mkdir()
    for entry in (REPO / "clinvk").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "backends").symlink_to(REPO / "backends")
    return lib


@pytest.mark.parametrize("backend, options, config", [(name, (), None) for name in sorted(OUTPUT)] + [
    ("claude", ("--timeout", "60", "-o", "json", "-m", "some-model"), None),
    ("claude", ("-t", "review", "--tag", "ci"), None),
    ("codex", (), "timeout_seconds: 600\nbackends:\n  codex:\n    extra_flags: []\n")])
def test_a_turn_forks_its_backend_before_anything_heavy_is_imported(installed, tmp_path, backend,
                                                                    options, config):
    """With a config file too: yaml parses it once, later turns read the copy clinvk keeps."""
    bin_dir, home, project = tmp_path / "bin", tmp_path / "home", tmp_path / "project"
    for folder in (bin_dir, home, project):
        folder.mkdir()
    stub = bin_dir / backend
    stub.write_text(f"#!/bin/sh\ncat '{SAMPLES / OUTPUT[backend]}'\n")
    stub.chmod(0o755)
    out = tmp_path / "imported"
    if config is not None:
        (home / "c").mkdir()
        (home / "c" / "config.yaml").write_text(config)
        os.utime(home / "c" / "config.yaml", (time.time() - 3600,) * 2)  # not just changed
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "CLINVK_HOME": str(home / "c"),
           "PROBE_LIB": str(installed), "PROBE_OUT": str(out),
           "PROBE_SITE": sysconfig.get_paths()["purelib"]}
    for _turn in range(2):  # the first one makes the store (checked, and so imported, then)
        done = subprocess.run([sys.executable, "-S", "-c", PROBE, *options, "-b", backend, "hi"],
                              cwd=project, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)
        assert done.returncode == 0, done.stderr
    imported = set(out.read_text().split())
    assert "clinvk.pty.fork" in imported  # the probe saw this turn's fork
    assert sorted(m for m in HEAVY if m in imported) == []
    assert {m for m in imported if not m.startswith("clinvk")} <= {
        "__future__", "errno", "fcntl", "select", "termios", "math",  # math: for --timeout
        "_sha256", "_sha2"}  # the config cache's digest (CPython's own sha256: ~0.2 ms)
    # the turns themselves were run and recorded as any other
    records = [p.read_text() for p in (home / "c" / "sessions").rglob("*.json")]
    assert len(records) == 2 and all('"turn_count": 1' in text for text in records)
    if "-t" in options:  # checked before the spawn without the store's rules, and kept
        assert all(json.loads(text)["tags"] == ["review", "ci"] for text in records)

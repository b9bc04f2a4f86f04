"""clinvk.config_cache: the config file as last parsed, so that a turn with a config file does
not import yaml before its backend starts; used only while the file is unchanged."""

from __future__ import annotations

import datetime
import os
import stat
import subprocess
import sys
import time

from clinvk import config_cache
from clinvk.config import load

OLD = time.time() - 3600  # a file last changed an hour ago: safely cacheable


def _config(tmp_path, text: str, mtime: float | None = OLD):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_what_was_parsed_is_read_back_while_the_file_is_unchanged(tmp_path):
    path = _config(tmp_path, "timeout_seconds: 5\n")
    st = os.stat(path)
    config_cache.write(str(tmp_path), str(path), st, {"timeout_seconds": 5}, str(path))
    kept = tmp_path / config_cache.NAME
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert config_cache.read(str(tmp_path), str(path), st) == ({"timeout_seconds": 5}, str(path))
    assert config_cache.read(str(tmp_path), str(tmp_path / "other.yaml"), st) is None
    path.write_text("timeout_seconds: 50\n")  # another size, another mtime
    assert config_cache.read(str(tmp_path), str(path), os.stat(path)) is None
    kept.write_bytes(b"\x00garbage")
    assert config_cache.read(str(tmp_path), str(path), st) is None


def test_a_just_changed_file_or_a_value_marshal_cannot_hold_is_not_kept(tmp_path):
    fresh = _config(tmp_path, "timeout_seconds: 5\n", mtime=None)
    config_cache.write(str(tmp_path), str(fresh), os.stat(fresh), {"a": 1}, str(fresh))
    assert not (tmp_path / config_cache.NAME).exists()
    old = _config(tmp_path, "x: 2026-01-01 00:00:00\n")
    config_cache.write(str(tmp_path), str(old), os.stat(old),
                       {"x": datetime.datetime(2026, 1, 1)}, str(old))
    assert not (tmp_path / config_cache.NAME).exists()
    assert not list(tmp_path.glob("*.tmp"))


def test_a_second_load_reads_the_kept_copy_without_yaml_and_sees_edits(tmp_path):
    _config(tmp_path, "timeout_seconds: 7\nbackends:\n  claude:\n    model: m1\n")
    env = {**os.environ, "CLINVK_HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    code = ("import os, sys\nfrom clinvk.config import load\n"
            "s = load(os.environ)\n"
            "print(s.get('timeout_seconds'), s.backend('claude')['model'], 'yaml' in sys.modules,"
            " s.source('timeout_seconds'))")

    def run() -> list[str]:
        out = subprocess.run([sys.executable, "-c", code],
                             env=env, capture_output=True, text=True, check=True)
        return out.stdout.split()

    first = run()
    assert first[:3] == ["7", "m1", "True"]  # parsed, and kept
    second = run()
    assert second == ["7", "m1", "False", *first[3:]]  # the kept copy: no yaml, same sources
    _config(tmp_path, "timeout_seconds: 9\n", mtime=OLD + 60)
    assert run()[:3] == ["9", "None", "True"]  # the edited file is parsed again


def test_ephemeral_settings_keep_nothing(tmp_path):
    _config(tmp_path, "timeout_seconds: 3\n")
    settings = load({"CLINVK_HOME": str(tmp_path)}, keep=False)
    assert settings.get("timeout_seconds") == 3
    assert not (tmp_path / config_cache.NAME).exists()
    assert load({"CLINVK_HOME": str(tmp_path)}).get("timeout_seconds") == 3
    assert (tmp_path / config_cache.NAME).exists()


def test_an_ephemeral_api_turn_keeps_no_copy(tmp_path):
    """clinvk.api.run(..., ephemeral=True) leaves nothing under $CLINVK_HOME, the config's
    parsed copy included (the backend need not even be installed for the settings to load)."""
    config = _config(tmp_path, "timeout_seconds: 3\n")
    (tmp_path / "home").mkdir()  # a home there already: nothing is added to it
    env = {**os.environ, "CLINVK_HOME": str(tmp_path / "home"), "CLINVK_CONFIG": str(config),
           "PATH": str(tmp_path)}
    code = ("import clinvk.api as api\n"
            "try:\n    api.run('hi', backend='claude', ephemeral=True)\n"
            "except Exception as exc:\n    print(type(exc).__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "BackendNotInstalled", done.stderr
    assert list((tmp_path / "home").iterdir()) == []


def test_a_damaged_entry_is_never_unmarshalled(tmp_path):
    """marshal is not safe on damaged data: a list or tuple count of 2**31-1 made every
    command allocate gigabytes (MemoryError under a 4 GB limit: an internal error at every
    command, for good) or spin for seconds. Any damaged byte now fails the digest."""
    path = _config(tmp_path, "timeout_seconds: 5\n")
    st = os.stat(path)
    config_cache.write(str(tmp_path), str(path), st, {"timeout_seconds": 5}, str(path))
    kept = tmp_path / config_cache.NAME
    good = kept.read_bytes()
    for at in range(len(good)):  # every byte flipped in turn
        kept.write_bytes(good[:at] + bytes([good[at] ^ 0x5A]) + good[at + 1:])
        assert config_cache.read(str(tmp_path), str(path), st) is None, at
    kept.write_bytes(good)
    assert config_cache.read(str(tmp_path), str(path), st) == ({"timeout_seconds": 5}, str(path))


def test_every_command_survives_a_cache_built_to_exhaust_memory(clinvk):
    """The cache of the report: `[` and a count of 2**31-1, under a 2 GB address-space limit."""
    import resource

    clinvk.config("timeout_seconds: 5\n")
    (clinvk.home / config_cache.NAME).write_bytes(b"[" + (0x7FFFFFFF).to_bytes(4, "little"))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    for args in (["sessions", "list"], ["config", "show"], ["--dry-run", "hi"]):
        done = subprocess.run([sys.executable, "-m", "clinvk", *args], cwd=clinvk.cwd,
                              env=clinvk.env, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, preexec_fn=limit)
        assert done.returncode == 0 and "error" not in done.stderr, (args, done.stderr)

"""An import stopped once its journal is written still ends complete: Ctrl-C or SIGTERM
during the renames, a rename that fails, and a kill just after the journal is removed
(a `--force` that moves sessions to another folder) never leave a partial import, a
journal, stray temp files or two files of one id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Clinvk
from test_records import _bundle, _record

from clinvk.errors import StoreError
from clinvk.store import SessionStore
from clinvk.store import write as store_write

JOURNAL = ".batch-journal.json"


def _temps(home: Path) -> list[Path]:
    return [p for p in (home / "sessions").rglob(".*") if p.is_file()]


def _files_by_id(home: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in (home / "sessions").glob("*/*.json"):
        counts[path.stem] = counts.get(path.stem, 0) + 1
    return counts


def _default_sigint() -> None:  # a shell may start background jobs with SIGINT ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_import(clinvk: Clinvk, phase: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "clinvk", "sessions", "import", *args],
                            cwd=clinvk.cwd, env={**clinvk.env, store_write.PAUSE_VAR: phase},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    line = proc.stderr.readline().strip()
    if line != f"clinvk: paused at {phase}":
        proc.kill()
        proc.wait()
        pytest.fail(f"the import did not pause: {line!r} {proc.stderr.read()}")
    return proc


def _consistent(clinvk: Clinvk, count: int) -> None:
    assert not (clinvk.home / "sessions" / JOURNAL).exists()
    assert _temps(clinvk.home) == []
    assert len(clinvk.sessions()) == count
    assert set(_files_by_id(clinvk.home).values()) == {1}


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM)])
def test_a_signal_during_the_renames_lets_the_import_finish(clinvk: Clinvk, tmp_path: Path,
                                                           sig: int, code: int) -> None:
    clinvk.config("session:\n  auto_clean: false\n")
    path = _bundle(tmp_path, 4)
    proc = _start_import(clinvk, "renamed:2", str(path))
    try:
        # the journal is there and a live clinvk holds the lock: readers still read
        listed = clinvk.run("sessions", "list", "--all", "--json")
        assert listed.code == 0 and "error" not in listed.err, listed.err
        proc.send_signal(sig)
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == code, err
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert "Traceback" not in err
    _consistent(clinvk, 4)  # all of it, though the signal came halfway


def _batch(store: SessionStore, count: int, **fields) -> list[store_write.Planned]:
    records = [_record(f"{i + 1:032x}", working_dir=f"/tmp/w{i % 2}", **fields)
               for i in range(count)]
    with store.lock():
        return store_write.plan(store, records, {r["id"] for r in records})


def _failing_replace(monkeypatch: pytest.MonkeyPatch, name: str, times: int) -> list[int]:
    """os.replace fails (EIO) the first `times` renames onto a file called `name`."""
    real, failed = os.replace, [0]

    def replace(src, dst, **kwargs):
        if Path(dst).name == name and failed[0] < times:
            failed[0] += 1
            raise OSError(5, "Input/output error", str(dst))
        return real(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return failed


def test_a_rename_that_fails_once_is_done_again(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    store = SessionStore(home)
    batch = _batch(store, 5)
    failed = _failing_replace(monkeypatch, f"{3:032x}.json", 1)
    with store.lock():
        assert len(store_write.commit(store, batch)) == 5
    assert failed == [1]
    assert not (home / "sessions" / JOURNAL).exists() and _temps(home) == []
    assert len(SessionStore(home).list()) == 5


def test_a_rename_that_keeps_failing_is_finished_by_the_next_writer(tmp_path: Path,
                                                                     monkeypatch) -> None:
    home = tmp_path / "home"
    store = SessionStore(home)
    batch = _batch(store, 5)
    _failing_replace(monkeypatch, f"{3:032x}.json", 100)
    with pytest.raises(StoreError, match="Input/output error.*completed by the next"), store.lock():
        store_write.commit(store, batch)
    assert (home / "sessions" / JOURNAL).exists()  # the batch is kept to be finished
    warnings: list[str] = []
    assert len(SessionStore(home, warn=warnings.append).list()) == 5 - 1
    assert warnings and "could not be completed yet" in warnings[0]
    monkeypatch.undo()  # the disk is back
    assert len(SessionStore(home).list()) == 5  # a reader takes the lock and finishes it
    assert not (home / "sessions" / JOURNAL).exists() and _temps(home) == []


def test_a_new_import_waits_for_an_unfinished_one(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    store = SessionStore(home)
    _failing_replace(monkeypatch, f"{2:032x}.json", 100)
    with pytest.raises(StoreError), store.lock():
        store_write.commit(store, _batch(store, 3))
    journal = (home / "sessions" / JOURNAL).read_bytes()
    other = [_record(f"{9:032x}", working_dir="/tmp/w9")]
    with pytest.raises(StoreError, match="earlier import is not complete"), store.lock():
        store_write.commit(store, store_write.plan(store, other, set()))
    assert (home / "sessions" / JOURNAL).read_bytes() == journal  # its journal kept as it was
    monkeypatch.undo()
    assert sorted(r["id"] for r in SessionStore(home).list()) == [f"{i:032x}" for i in (1, 2, 3)]


def test_a_forced_import_killed_after_its_renames_leaves_one_file_per_id(
        clinvk: Clinvk, tmp_path: Path) -> None:
    clinvk.config("session:\n  auto_clean: false\n")
    path = _bundle(tmp_path, 4)
    assert clinvk.run("sessions", "import", str(path)).code == 0
    moved = tmp_path / "moved"
    moved.mkdir()
    proc = _start_import(clinvk, "committed:1", "--force", "--workdir", str(moved), str(path))
    proc.kill()  # SIGKILL: after the journal's removal, before the index is told
    proc.wait()
    proc.stderr.close()
    assert _files_by_id(clinvk.home) == {f"{i:032x}": 1 for i in range(1, 5)}
    _consistent(clinvk, 4)
    assert {r["working_dir"] for r in clinvk.sessions()} == {str(moved)}
    shown = clinvk.run("sessions", "show", f"{1:032x}", "--json")
    assert shown.code == 0 and json.loads(shown.out)["working_dir"] == str(moved), shown.err


def test_an_import_of_expired_sessions_keeps_them_and_says_so(clinvk: Clinvk,
                                                              tmp_path: Path) -> None:
    """Sessions last used longer ago than retention_days: imported and still there after
    the import, whose daily clean (due here) removed them silently; it still removes the
    other expired sessions (SPEC: on any command). A warning says the next clean will;
    retention_days 0 keeps them and says nothing."""
    from test_records import _record

    clinvk.hold_daily_clean = False
    expired = _record("f" * 32, last_used="2020-01-01T00:00:00Z", created_at="2020-01-01T00:00:00Z")
    folder = clinvk.home / "sessions" / "by-hand"
    folder.mkdir(parents=True)
    (folder / f"{expired['id']}.json").write_text(json.dumps(expired))
    old = [_record(f"{i + 1:032x}", last_used="2020-01-01T00:00:00Z",
                   created_at="2020-01-01T00:00:00Z") for i in range(3)]
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format": "clinvk-export", "version": 1,
                                "sessions": [{"session": r} for r in old]}))
    done = clinvk.run("sessions", "import", str(path))
    assert done.code == 0, done.err
    assert ("3 imported session(s) last used more than 30 days ago: the retention clean "
            "removes them (its next daily run, or `sessions clean`)") in done.err
    assert sorted(_files_by_id(clinvk.home)) == sorted(r["id"] for r in old)  # not "fff..."
    clinvk.config("session:\n  retention_days: 0\n")
    again = clinvk.run("sessions", "import", "--force", str(path))
    assert again.code == 0 and "warning" not in again.err, again.err
    assert len(clinvk.sessions()) == 3

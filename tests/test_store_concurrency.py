"""Several processes writing at once, and writers killed at random moments."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from clinvk.store import SessionStore
from clinvk.store import session as S

PROCS = 8
UPDATES = 200

WORKER = r"""
import sys
from pathlib import Path
from clinvk.store import SessionStore
home, worker, n, ids = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4:]
store = SessionStore(home, lambda m: print(m, file=sys.stderr))
def bump(r, i):
    r["tags"].append(f"w{worker}-{i}")
    r["metadata"]["count"] = str(int(r["metadata"].get("count", "0")) + 1)
for i in range(n):
    store.update(ids[i % len(ids)], lambda r: bump(r, i))
"""

KILLABLE = r"""
import sys, os
from pathlib import Path
from clinvk.store import session as S
from clinvk.store import SessionStore
home = Path(sys.argv[1])
store = SessionStore(home)
log = open(str(home) + ".written.log", "a")
first = True
while True:
    rec = store.create(S.new_session("claude", f"/w/{os.urandom(1)[0] % 3}", title="k" * 50))
    log.write(rec["id"] + "\n"); log.flush()
    if first:  # killed from here on: at least one record per writer, whatever the machine's load
        print("ready", flush=True)
        first = False
    for i in range(3):
        store.update(rec["id"], lambda r: r["tags"].append(f"t{i}"))
"""


def env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_workers(home: Path, groups: list[list[str]], read_while_running: bool = False) -> None:
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(home), str(w), str(UPDATES), *ids],
                         env=env(), stderr=subprocess.PIPE, text=True)
        for w, ids in enumerate(groups)
    ]
    warnings: list[str] = []
    while read_while_running and any(p.poll() is None for p in procs):
        reader = SessionStore(home, warnings.append)  # a concurrent reader takes no lock
        rows = reader.list()
        assert len(rows) == len({i for ids in groups for i in ids})
        assert all(reader.get(r["id"][:8])["id"] == r["id"] for r in rows[:2])
        reader.close()
    assert warnings == []
    for p in procs:
        _out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        assert "skipping" not in err, err


def test_many_processes_update_one_session(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = SessionStore(home)
    rec = store.create(S.new_session("claude", "/w/shared"))
    run_workers(home, [[rec["id"]]] * PROCS)
    final = store.get(rec["id"])
    expected = {f"w{w}-{i}" for w in range(PROCS) for i in range(UPDATES)}
    assert len(final["tags"]) == PROCS * UPDATES and set(final["tags"]) == expected
    assert final["metadata"]["count"] == str(PROCS * UPDATES)
    assert store.list(tags=["w7-199"])[0]["id"] == rec["id"]


def test_many_processes_update_distinct_sessions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = SessionStore(home)
    recs = [store.create(S.new_session("codex", f"/w/{i % 3}")) for i in range(PROCS)]
    run_workers(home, [[r["id"]] for r in recs], read_while_running=True)
    for w, rec in enumerate(recs):
        final = store.get(rec["id"])
        assert final["tags"] == [f"w{w}-{i}" for i in range(UPDATES)]
        assert final["metadata"]["count"] == str(UPDATES)
    assert store.count() == PROCS
    assert {r["metadata"]["count"] for r in store.list()} == {str(UPDATES)}


def test_writer_killed_at_random_moments(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rng = random.Random(1234)
    for _ in range(30):
        proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(home)], env=env(),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    warnings: list[str] = []
    store = SessionStore(home, warnings.append)
    listed = {r["id"]: r for r in store.list()}
    assert warnings == []
    written = Path(f"{home}.written.log").read_text().split()
    assert written and set(written) <= set(listed)
    for sid, rec in listed.items():
        assert S.validate_record(rec, expected_id=sid) == rec
        assert store.get(sid) == rec
    files = {r["id"]: r for r in store.iter_records()}
    assert files == listed
    # a rebuilt index agrees with the one that lived through the kills
    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{home}/index.sqlite3{suffix}").unlink(missing_ok=True)
    fresh = SessionStore(home, warnings.append)
    assert {r["id"]: r for r in fresh.list()} == listed and warnings == []

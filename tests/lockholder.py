"""Another process holding the store's lock until told to let go, and a look at whether a
process waits for a lock (its wchan) or has children: tests of the store lock's waits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HOLDER = r"""
import sys
from pathlib import Path
from clinvk.store import SessionStore
with SessionStore(Path(sys.argv[1])).lock():
    print("locked", flush=True)
    sys.stdin.readline()
"""


class LockHolder:
    """Holds $CLINVK_HOME/store.lock (as a clinvk would) until release()."""

    def __init__(self, home: Path) -> None:
        root = str(Path(__file__).resolve().parents[1])
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(home)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": root})
        assert self.proc.stdout.readline() == "locked\n"

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            assert self.proc.wait(timeout=30) == 0


def waits_for_lock(pid: int) -> bool:
    """Whether pid sleeps in flock (the kernel's wait for a file lock)."""
    try:
        with open(f"/proc/{pid}/wchan") as fh:
            return "lock" in fh.read()
    except OSError:
        return False


def has_children(pid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        return True
            except (OSError, IndexError, ValueError):
                continue
    return False


def wait_until(check, proc, what: str, limit: float = 60) -> None:
    """Poll `check()` while `proc` (a Popen or pexpect child) runs."""
    until = time.monotonic() + limit
    while not check():
        alive = proc.poll() is None if hasattr(proc, "poll") else proc.isalive()
        assert alive, f"ended before {what}"
        assert time.monotonic() < until, f"never {what}"
        time.sleep(0.01)

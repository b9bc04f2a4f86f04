#!/usr/bin/env python3
"""A turn's time when its working directory already holds many sessions, back to back (the
folder is then "racy": written less than 2 s before, so the index rescans it at each sync).

A stub backend (a shell script printing a recorded codex reply with a new thread id) is run
through the installed `clinvk` command; N sessions are written into the folder first (in
the store's format), the index is built, then turns follow each other without a pause, and
again with a 2.5 s pause (the folder settled). Prints medians of wall and CPU time.

    python bench/big_folder.py [--sessions 5000] [--turns 7] [--python VENV/bin/python]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "tests" / "samples" / "codex-exec-json.jsonl"
THREAD = "01a20592-dc3e-72b0-bd0f-2803fb0461c4"
STUB = f"""#!/bin/sh
if [ "$1" = "--version" ]; then echo "codex-cli 0.63.0"; exit 0; fi
sed "s/{THREAD}/$(cat /proc/sys/kernel/random/uuid)/" '{SAMPLE}'
"""


def fill(python: str, home: Path, cwd: Path, n: int) -> None:
    code = ("import json, sys, uuid\nfrom datetime import datetime, timedelta, timezone\n"
            "from pathlib import Path\nfrom clinvk.store import dirkey\n"
            "from clinvk.store import session as S\n"
            "home, cwd, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])\n"
            "t = S.new_session('codex', cwd, title='old', now=datetime.now(timezone.utc)"
            " - timedelta(days=1))\n"
            "folder = home / 'sessions' / dirkey(cwd)\nfolder.mkdir(parents=True, exist_ok=True)\n"
            "for _ in range(n):\n    sid = uuid.uuid4().hex\n"
            "    (folder / f'{sid}.json').write_text(json.dumps({**t, 'id': sid}, indent=2))\n")
    subprocess.run([python, "-c", code, str(home), str(cwd), str(n)], check=True)


def turn(clinvk: str, env: dict[str, str], cwd: Path) -> tuple[float, float]:
    started = time.perf_counter()
    proc = subprocess.Popen([clinvk, "-b", "codex", "hi"], cwd=cwd, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"clinvk failed: {status}")
    return (time.perf_counter() - started) * 1000, (usage.ru_utime + usage.ru_stime) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--turns", type=int, default=7)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    clinvk = str(Path(args.python).parent / "clinvk")
    with tempfile.TemporaryDirectory(prefix="clinvk-big-") as tmp:
        root = Path(tmp)
        (root / "bin").mkdir()
        stub = root / "bin" / "codex"
        stub.write_text(STUB)
        stub.chmod(0o755)
        cwd = root / "project"
        cwd.mkdir()
        print("| sessions in the folder | turns back to back: wall / CPU | 2.5 s apart: wall / CPU |")
        print("|---|---|---|")
        for n in (0, args.sessions):
            home = root / f"home-{n}"
            env = {**os.environ, "PATH": f"{root / 'bin'}:{os.environ['PATH']}",
                   "CLINVK_HOME": str(home), "HOME": str(root)}
            fill(args.python, home, cwd, n)
            subprocess.run([clinvk, "sessions", "list", "-n", "1"], env=env, cwd=cwd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            turn(clinvk, env, cwd)
            quick = [turn(clinvk, env, cwd) for _ in range(args.turns)]
            paused = []
            for _ in range(args.turns):
                time.sleep(2.5)
                paused.append(turn(clinvk, env, cwd))
            cells = [f"{statistics.median(w for w, _ in r):.0f} / {statistics.median(c for _, c in r):.0f} ms"
                     for r in (quick, paused)]
            print(f"| {n:,} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()

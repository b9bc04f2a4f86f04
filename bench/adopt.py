#!/usr/bin/env python3
"""`sessions adopt` over 1,000 native conversations (about 100 MB) in a scratch HOME.

The conversations are built from the real store files in tests/samples/stores/adopt/
(claude 2.1.330, codex 0.169.0, gemini 0.61.0 against the stand-in): each copy gets its
own session id, one of 50 project folders and its own day; codex and gemini copies repeat
their turns (with fresh message ids, replies lengthened to about 4 kB) up to about
100 kB. 400 claude, 300 codex, 300 gemini. Timed as whole processes (`python -m clinvk ...`), medians:
- the first adopt (a fresh $CLINVK_HOME each run);
- a second adopt with nothing changed;
- `sessions list -n 20` with adopt.auto on and those files present, against the same
  store with an empty HOME (no native files).

    python bench/adopt.py [--runs 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "samples" / "stores" / "adopt"
WORK = "/tmp/adopt-capture/work"
COUNTS = {"claude": 400, "codex": 300, "gemini": 300}
TARGET = 100_000  # bytes a codex / gemini copy grows to
FILLER = "a longer answer, as real ones are: " + "lorem ipsum dolor sit amet " * 150


def _sample(label: str) -> tuple[str, str]:
    info = json.loads((SAMPLES / f"{label}.billed.json").read_text())
    return (SAMPLES / f"{label}.jsonl").read_text(), info["session_id"]


def _day(n: int) -> str:
    return f"2026-{1 + n % 11:02d}-{1 + n % 28:02d}T{n % 24:02d}:35"


def _fresh_ids(text: str, k: int) -> str:
    return re.sub(r'"id":"', f'"id":"r{k}-', text)


def build_claude(home: Path, n: int, text: str, sid: str) -> int:
    new = str(uuid.UUID(int=n + 1))
    cwd = f"/home/bench/proj{n % 50}"
    body = text.replace(sid, new).replace(WORK, cwd).replace("2026-11-30T19:35", _day(n))
    folder = home / ".claude" / "projects" / re.sub(r"[^A-Za-z0-9]", "-", cwd)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{new}.jsonl").write_text(body)
    return len(body)


def build_codex(home: Path, n: int, text: str, sid: str) -> int:
    new = f"019a0000-0000-7000-8000-{n:012d}"
    text = text.replace("MOCK CODEX REPLY", "MOCK CODEX REPLY " + FILLER)
    lines = text.splitlines(keepends=True)
    head = "".join(lines[:14])
    turns = "".join(lines[14:])
    body = head
    while len(body) < TARGET:
        body += turns
    body = body.replace(sid, new).replace(WORK, f"/home/bench/proj{n % 50}")
    body = body.replace("2026-11-30T19:35", _day(n))
    day = _day(n)[:10].split("-")
    folder = home / ".codex" / "sessions" / day[0] / day[1] / day[2]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"rollout-{_day(n).replace(':', '-')}-00-{new}.jsonl").write_text(body)
    return len(body)


def build_gemini(home: Path, n: int, text: str, sid: str) -> int:
    new = str(uuid.UUID(int=(1 << 100) + n))
    text = text.replace("MOCK GEMINI REPLY", "MOCK GEMINI REPLY " + FILLER)
    lines = text.splitlines(keepends=True)
    said = "".join(line for line in lines[1:] if '"messages"' not in line)  # the messages
    body, k = "".join(lines[:2]), 0
    while len(body) < TARGET:
        body += _fresh_ids(said, k)
        k += 1
    body = body.replace(sid, new).replace("2026-11-30T19:35", _day(n))
    slug = f"proj{n % 50}"
    folder = home / ".gemini" / "tmp" / slug / "chats"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"session-{_day(n).replace(':', '-')}-{new[:8]}.jsonl").write_text(body)
    (folder.parent / ".project_root").write_text(f"/home/bench/{slug}")
    return len(body)


def fill(home: Path) -> int:
    """The 1,000 conversations under `home`; their total size in bytes."""
    builders = {"claude": (build_claude, "claude-2.1.330"), "codex": (build_codex, "codex-0.169.0"),
                "gemini": (build_gemini, "gemini-0.61.0")}
    total, n = 0, 0
    for name, count in COUNTS.items():
        build, label = builders[name]
        text, sid = _sample(label)
        for _ in range(count):
            total += build(home, n, text, sid)
            n += 1
    return total


CPU: dict[str, list[float]] = {}  # label -> CPU seconds (user + sys) of each run


def timed(argv: list[str], env: dict[str, str], label: str = "") -> float:
    """Wall seconds of a whole process (and its CPU seconds noted under `label`)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed: {done.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU.setdefault(label, []).append(cpu)
    return elapsed


def clinvk(*args: str) -> list[str]:
    return [sys.executable, "-m", "clinvk", *args]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="clinvk-adopt-bench-"))
    home, empty = root / "home", root / "empty-home"
    empty.mkdir(parents=True, exist_ok=True)
    size = fill(home) if not (home / ".claude").exists() else 0
    config = root / "config.yaml"  # old conversations stay (no retention clean)
    config.write_text("session:\n  retention_days: 0\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8",
           "CLINVK_NO_PROGRESS": "1", "CLINVK_CONFIG": str(config)}
    first, second, listed, bare = [], [], [], []
    for run in range(args.runs):
        store = root / f"clinvk-{run}"
        shutil.rmtree(store, ignore_errors=True)
        run_env = {**env, "CLINVK_HOME": str(store)}
        first.append(timed(clinvk("sessions", "adopt"), run_env, "first"))
    run_env = {**env, "CLINVK_HOME": str(root / "clinvk-0")}
    count = len(json.loads(subprocess.run(clinvk("sessions", "list", "--all", "--json"),
                                          env=run_env, capture_output=True).stdout))
    timed(clinvk("sessions", "list", "-n", "20"), run_env)  # warm-up
    shutil.rmtree(root / "clinvk-bare", ignore_errors=True)
    shutil.copytree(root / "clinvk-0", root / "clinvk-bare")  # the same store, no native files
    bare_env = {**run_env, "HOME": str(empty), "CLINVK_HOME": str(root / "clinvk-bare")}
    timed(clinvk("sessions", "list", "-n", "20"), bare_env)
    for _ in range(max(args.runs, 7)):
        second.append(timed(clinvk("sessions", "adopt"), run_env, "second"))
        listed.append(timed(clinvk("sessions", "list", "-n", "20"), run_env, "listed"))
        bare.append(timed(clinvk("sessions", "list", "-n", "20"), bare_env, "bare"))
        timed([sys.executable, "-c", "pass"], env, "python")
    med = statistics.median
    print(f"conversations: {sum(COUNTS.values())}, {size / 1e6:.0f} MB; sessions adopted: {count}")
    print(f"first adopt: {med(first):.2f} s (runs: {', '.join(f'{t:.2f}' for t in first)})")
    print(f"second adopt, nothing changed: {med(second):.3f} s")
    print(f"sessions list -n 20, adopt.auto on, files present: {med(listed):.3f} s")
    print(f"sessions list -n 20, no native files: {med(bare):.3f} s "
          f"(ratio {med(listed) / med(bare):.2f})")
    print("CPU seconds (user + sys), medians: " + ", ".join(
        f"{label} {med(values):.3f}" for label, values in CPU.items()))
    print(f"load average: {os.getloadavg()[0]:.2f}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

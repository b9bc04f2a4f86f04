#!/usr/bin/env python3
"""Export / import and transcript search at scale, on synthetic claude sessions.

1. `sessions export --all` of 1,000 sessions with their transcripts, then `sessions import`
   of that bundle into a fresh HOME and $CLINVK_HOME (target: each under 10 s).
2. `sessions search --transcripts` over 1,000 sessions with 100 kB transcripts each, against
   `grep -rl` over the same files (target: within 3x). n/a when the command is missing.
   Median of 7 runs after one warm-up; the first 8 searches after the transcripts were
   written (which fill the transcript cache, 0.5 s of reading per search) come before and
   are reported on their own row, and so are two floors:
   `sessions search` without --transcripts and a bare `python -c pass`.

    python bench/transfer_bench.py [--sessions 1000] [--kb 100] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECTS = ("alpha", "beta", "gamma", "delta")


def populate(root: Path, count: int, kb: int, needle_every: int = 50) -> dict[str, str]:
    """`count` claude sessions (records + transcripts of about `kb` kB); returns the env."""
    from clinvk.backends.claude_store import project_dir_name

    from clinvk.store import SessionStore
    from clinvk.store import session as sessions

    home, clinvk_home = root / "home", root / "clinvk"
    store = SessionStore(clinvk_home)
    filler = ("lorem ipsum dolor sit amet " * 40)[:1000]
    for n in range(count):
        workdir = root / "work" / PROJECTS[n % len(PROJECTS)]
        workdir.mkdir(parents=True, exist_ok=True)
        backend_id = str(uuid.uuid4())
        folder = home / ".claude" / "projects" / project_dir_name(str(workdir))
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(max(1, kb)):
            text = filler + (" NEEDLE-XYZZY" if n % needle_every == 0 and i == kb // 2 else "")
            role = "user" if i % 2 == 0 else "assistant"
            content = text if role == "user" else [{"type": "text", "text": text}]
            lines.append(json.dumps({"type": role, "sessionId": backend_id, "cwd": str(workdir),
                                     "message": {"id": f"m{i}", "role": role, "content": content}}))
        (folder / f"{backend_id}.jsonl").write_text("\n".join(lines) + "\n")
        record = sessions.new_session("claude", workdir, title=f"session {n}",
                                      backend_session_id=backend_id)
        store.create(record)
    store.close()
    return env_for(root)


def env_for(root: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "home"),
            "CLINVK_HOME": str(root / "clinvk"), "LANG": "C.UTF-8"}


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - started, done


def clinvk(*args: str) -> list[str]:
    return [sys.executable, "-m", "clinvk", *args]


def transfer(tmp: Path, count: int) -> list[str]:
    env = populate(tmp / "src", count, kb=5)
    bundle = tmp / "bundle.json"
    t_export, done = timed(clinvk("sessions", "export", "--all", "-o", str(bundle)), env, tmp)
    if done.returncode:
        raise SystemExit(done.stderr)
    dest = tmp / "dest"
    (dest / "elsewhere").mkdir(parents=True)
    t_import, done = timed(clinvk("sessions", "import", str(bundle), "--workdir",
                                  str(dest / "elsewhere")), env_for(dest), tmp)
    if done.returncode:
        raise SystemExit(done.stderr)
    size = bundle.stat().st_size / 1e6
    return [f"| export --all, {count} sessions with transcripts ({size:.0f} MB) | {t_export:.2f} s "
            f"| < 10 s | {'ok' if t_export < 10 else 'MISSED'} |",
            f"| import of that bundle (--workdir) into a fresh HOME | {t_import:.2f} s | < 10 s "
            f"| {'ok' if t_import < 10 else 'MISSED'} |"]


def median_of(argv: list[str], env: dict[str, str], cwd: Path, runs: int = 7):
    """Median wall time of `runs` runs after one warm-up (page cache, index)."""
    timed(argv, env, cwd)
    results = [timed(argv, env, cwd) for _ in range(runs)]
    results.sort(key=lambda r: r[0])
    return results[len(results) // 2]


def search(tmp: Path, count: int, kb: int) -> list[str]:
    env = populate(tmp / "search", count, kb=kb)
    probe = subprocess.run(clinvk("sessions", "search", "--help"), env=env, capture_output=True)
    if probe.returncode != 0:
        return [f"| sessions search --transcripts, {count} × {kb} kB | n/a (command missing) "
                "| ≤ 3× grep | n/a |"]
    projects = tmp / "search" / "home" / ".claude" / "projects"
    grep = ["grep", "-rl", "NEEDLE-XYZZY", str(projects)]
    search_argv = clinvk("sessions", "search", "--transcripts", "NEEDLE-XYZZY", "-n", str(count),
                         "--json")
    floor_argv = clinvk("sessions", "search", "NEEDLE-XYZZY", "-n", str(count), "--json")
    t_first, _ = timed(search_argv, env, tmp)  # the first search starts filling the cache
    fills = [t_first] + [timed(search_argv, env, tmp)[0] for _ in range(7)]  # (0.5 s a search)
    t_grep, done = median_of(grep, env, tmp)
    hits_grep = len(done.stdout.splitlines())
    t_search, done = median_of(search_argv, env, tmp)
    if done.returncode:
        return [f"| sessions search --transcripts | failed: {done.stderr.strip()[:80]} | | |"]
    hits = len(json.loads(done.stdout))
    t_floor, _ = median_of(floor_argv, env, tmp)
    t_python, _ = median_of([sys.executable, "-c", "pass"], env, tmp)
    ratio = t_search / max(t_grep, 1e-6)
    return [f"| `grep -rl` over the same {count} files ({hits_grep} hits) | {t_grep:.3f} s | | |",
            f"| sessions search --transcripts, {count} × {kb} kB ({hits} hits) | {t_search:.3f} s "
            f"({ratio:.1f}× grep) | ≤ 3× grep | {'ok' if ratio <= 3 else 'MISSED'} |",
            f"| (first 8 searches after the transcripts were written: cache being filled) | "
            f"{' '.join(f'{t:.2f}' for t in fills)} s | | |",
            f"| (floor: `sessions search` without --transcripts) | {t_floor:.3f} s "
            f"({t_floor / max(t_grep, 1e-6):.1f}× grep) | | |",
            f"| (floor: `python -c pass`) | {t_python:.3f} s "
            f"({t_python / max(t_grep, 1e-6):.1f}× grep) | | |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--kb", type=int, default=100)
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        rows = transfer(Path(tmp), args.sessions) + search(Path(tmp), args.sessions, args.kb)
    text = "\n".join(["## Transfer", "", "| what | time | target | |", "|---|---|---|---|", *rows, ""])
    print(text)
    if args.write:
        with (REPO / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()

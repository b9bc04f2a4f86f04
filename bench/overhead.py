#!/usr/bin/env python3
"""What clinvk adds to a backend call, measured in paired runs against the stand-in API.

For each backend: wall time of `clinvk -b NAME --ephemeral PROMPT` against the backend's
own headless streaming command run directly (same stand-in, same HOME), alternating the
two so that machine noise hits both alike. Then a fake backend printing 50 MB of text
through clinvk: throughput and peak RSS. Prints a markdown table; --write appends it to
bench/RESULTS.md.

    python bench/overhead.py [--pairs 15] [--write]
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
sys.path.insert(0, str(REPO / "tests"))

import realcli  # noqa: E402
from standin import StandIn  # noqa: E402

FAKE = REPO / "tests" / "fakes" / "fakecli.py"


def wall(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {argv}\n{done.stderr.decode()[-2000:]}")
    return elapsed


# the least any Python wrapper on pexpect pays: interpreter start, pexpect, a pty
BARE_PEXPECT = ("import sys, pexpect\n"
                "c = pexpect.spawn(sys.argv[1], sys.argv[2:], encoding=None, echo=False)\n"
                "while True:\n"
                "    try:\n        c.read_nonblocking(65536, timeout=30)\n"
                "    except pexpect.EOF:\n        break\n"
                "c.wait()\n")


def paired(name: str, standin: StandIn, tmp: Path, pairs: int, python: str) -> dict[str, float]:
    project = tmp / name / "project"
    project.mkdir(parents=True)
    cli = realcli.find_cli(name)
    if cli is None:
        raise SystemExit(f"{name} not found: set CLINVK_TEST_NPM_BIN or put it on PATH")
    env = realcli.prepare_cli(name, standin, tmp / name / "home", project, cli)
    env["CLINVK_HOME"] = str(tmp / name / "clinvk-home")
    direct = realcli.headless_argv(name, "benchmark prompt", cli_path=cli)
    wrapped = [python, "-m", "clinvk", "-b", name, "--ephemeral", "benchmark prompt"]
    bare = [python, "-c", BARE_PEXPECT, *direct]
    for argv in (direct, bare, wrapped):  # warm caches once
        wall(argv, env, project)
    d, b, w = [], [], []
    runs = [(direct, d), (bare, b), (wrapped, w)]
    for i in range(pairs):
        for argv, out in runs if i % 2 == 0 else runs[::-1]:
            out.append(wall(argv, env, project))
    return {"direct": statistics.median(d), "bare": statistics.median(b),
            "clinvk": statistics.median(w),
            "added": statistics.median([y - x for x, y in zip(d, w, strict=True)]),
            "over_bare": statistics.median([y - x for x, y in zip(b, w, strict=True)])}


def passthrough(tmp: Path, python: str, megabytes: int = 50) -> dict[str, float]:
    home = tmp / "fake-home"
    home.mkdir()
    (home / "config.yaml").write_text(
        f"backends:\n  fake:\n    adapter: claude\n    command: {FAKE}\n")
    env = {**os.environ, "CLINVK_HOME": str(home), "FAKE_MODE": "huge", "FAKE_MB": str(megabytes)}
    code = ("import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)\n"
            "e = time.perf_counter() - t\n"
            "print(e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)")
    argv = [sys.executable, "-c", code, python, "-m", "clinvk", "-b", "fake",
            "--ephemeral", "go"]
    runs = []
    for _ in range(3):
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True,
                             cwd=tmp).stdout.split()
        if out[2] != "0":
            raise SystemExit("fake passthrough failed")
        runs.append((float(out[0]), int(out[1])))
    elapsed = statistics.median(r[0] for r in runs)
    return {"mb_per_s": megabytes / elapsed, "seconds": elapsed,
            "peak_rss_mb": max(r[1] for r in runs) / 1024}


def startup(python: str) -> dict[str, float]:
    def med(argv: list[str]) -> float:
        return statistics.median(wall(argv, dict(os.environ), Path(tempfile.gettempdir()))
                                 for _ in range(15))

    bare = med([python, "-c", "pass"])
    helped = med([python, "-m", "clinvk", "--help"])
    return {"python": bare, "help": helped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--write", action="store_true", help="append the table to bench/RESULTS.md")
    parser.add_argument("--backends", default="claude,codex,gemini")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter that runs clinvk (e.g. a venv with `pip install .`)")
    args = parser.parse_args()
    lines = [f"### Wrapper overhead ({time.strftime('%Y-%m-%d')}, {args.pairs} pairs, medians, "
             f"clinvk run by {args.python})", "",
             "| backend | direct call | bare pexpect wrapper | through clinvk | clinvk − direct "
             "| ratio | clinvk − bare wrapper |",
             "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp, StandIn() as standin:
        for name in args.backends.split(","):
            r = paired(name, standin, Path(tmp), args.pairs, args.python)
            lines.append(f"| {name} | {r['direct'] * 1000:.0f} ms | {r['bare'] * 1000:.0f} ms | "
                         f"{r['clinvk'] * 1000:.0f} ms | {r['added'] * 1000:+.0f} ms | "
                         f"{r['clinvk'] / r['direct']:.3f} | {r['over_bare'] * 1000:+.0f} ms |")
            print(lines[-1], flush=True)
        p = passthrough(Path(tmp), args.python)
    s = startup(args.python)
    lines += ["", f"50 MB of text from a fake backend through clinvk: {p['mb_per_s']:.0f} MB/s "
              f"({p['seconds']:.2f} s), peak RSS {p['peak_rss_mb']:.0f} MB (largest of clinvk and "
              "the fake backend).",
              f"`python -c pass` {s['python'] * 1000:.0f} ms; `clinvk --help` {s['help'] * 1000:.0f} ms "
              f"({s['help'] / s['python']:.2f}×).", ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(REPO / "bench" / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()

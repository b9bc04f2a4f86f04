#!/usr/bin/env python3
"""How `clinvk sessions ...` scales with the size of the store, measured as whole processes.

For each size (default 1k, 10k, 100k sessions spread over 200 working directories) a fresh
$CLINVK_HOME is filled by writing the session files directly, in the store's own layout
(sessions/<dirkey>/<id>.json, JSON with indent 2, mode 0600 in 0700 folders), with
realistic records: 1-6 turns with prompts and usage, mixed backends and statuses, tags
(about 10% carry "bench"), and last_used spread evenly over the last 60 days. The first
command then builds the derived index; its time is reported on its own row.

Every timed command is a separate `<sys.executable> -m clinvk ...` process (not the console
script, whose wrapper adds its own import of re + the entry point lookup); the figure is
the median wall time of --runs runs after one warm-up run. All sizes are filled first and
then timed interleaved (1k, 10k, 100k, 1k, ...), so that background load hits every size
alike. After the index build (and after every restore) the bench waits 2.5 s, past the
index's 2 s window for "racy" mtimes, and runs one untimed `sessions list -n 1`, as any
later command of a real user would. The `last-clean` stamp is set to now so that the daily
auto-clean (retention 30 days, on by default) does not fire during the runs; no
config.yaml is written, so the default path is measured.

`sessions clean --older-than 54d` removes the ~10% oldest sessions. Before each clean run
the removed files are written back from memory (same bytes, new inodes) and the index is
re-synced as above (untimed), so every timed clean starts from the same store with a
current index. Cleans run one size at a time.

Optional rows (`sessions search`, `list --tag --since`, `stats --by`) print
"n/a (command not available)" when clinvk answers with exit 2 and "No such command" /
"no such option".

Startup: `clinvk --help` and `sessions list` on an empty (absent) $CLINVK_HOME against a
bare `python -c pass`, interleaved, median of --startup-runs runs each.

    python bench/store_bench.py [--sizes 1000,10000,100000] [--runs 5] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from clinvk.store import dirkey  # noqa: E402  (the store's own folder naming)

RESULTS = REPO / "bench" / "RESULTS.md"
HEADING = "## Store"
NDIRS = 200
DAYS = 60
CLEAN_DAYS = 54  # the oldest 6 of 60 days: ~10% of the sessions
BACKENDS = (("claude", ("claude-sonnet-4-5", "claude-opus-4-1", None)),
            ("codex", ("gpt-5-codex", "gpt-5", None)),
            ("gemini", ("gemini-2.5-pro", "gemini-2.5-flash", None)))
WORDS = ("refactor the parser", "fix flaky test in", "explain why", "add retries to",
         "write docs for", "speed up", "port to asyncio", "review the diff of",
         "find the leak in", "rename helpers in")
THINGS = ("the session store", "auth middleware", "csv importer", "billing cron",
          "websocket handler", "config loader", "the CLI", "search index", "payments API")
TAGS = ("refactor", "bug", "docs", "perf", "spike", "review")
SEARCH_WORD = "zanzibar"  # in ~1% of titles
NA = "n/a (command not available)"
LOOKUP_TARGET_S = 0.3
FLAT_FACTOR = 1.5
STARTUP_FACTOR = 2.0


def rfc3339(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


# -- filling a store ------------------------------------------------------------------
def make_record(rng: random.Random, working_dir: str, now: datetime) -> dict:
    backend, models = rng.choice(BACKENDS)
    last = now - timedelta(seconds=rng.uniform(60, DAYS * 86400))
    nturns = rng.randint(1, 6)
    created = last - timedelta(seconds=rng.uniform(0, 3 * 3600))
    turns, totals = [], dict.fromkeys(("input_tokens", "cached_input_tokens",
                                       "cache_creation_input_tokens", "output_tokens",
                                       "reasoning_tokens", "total_tokens"), 0)
    prompts = [f"{rng.choice(WORDS)} {rng.choice(THINGS)}" for _ in range(nturns)]
    if rng.random() < 0.01:
        prompts[0] += f" ({SEARCH_WORD})"
    for n, prompt in enumerate(prompts):
        inp = rng.randint(500, 40000)
        cached = rng.randint(0, inp)
        out = rng.randint(50, 4000)
        usage = {"input_tokens": inp, "cached_input_tokens": cached,
                 "cache_creation_input_tokens": rng.randint(0, inp - cached),
                 "output_tokens": out, "reasoning_tokens": rng.randint(0, out),
                 "total_tokens": inp + out}
        for key, value in usage.items():
            totals[key] += value
        at = created + (last - created) * ((n + 1) / nturns)
        turns.append({"at": rfc3339(at), "prompt": prompt[:200],
                      "duration_ms": rng.randint(800, 120000), "exit_code": 0, "usage": usage})
    status = rng.choices(("active", "error", "interrupted"), (90, 7, 3))[0]
    tags = rng.sample(TAGS, rng.randint(0, 2))
    if rng.random() < 0.1:
        tags.append("bench")
    sid = f"{rng.getrandbits(128):032x}"
    return {
        "schema_version": 1, "id": sid, "backend": backend,
        "backend_session_id": None if rng.random() < 0.03 else f"{rng.getrandbits(32):08x}-bench",
        "model": rng.choice(models), "working_dir": working_dir, "title": prompts[0][:80],
        "status": status, "error": "backend exited with status 1" if status == "error" else None,
        "created_at": rfc3339(created), "last_used": rfc3339(last), "turn_count": nturns,
        "token_usage": totals,
        "cost_usd": round(rng.uniform(0.001, 2.5), 6) if backend == "claude" else None,
        "turns": turns, "tags": tags, "parent_id": None,
        "metadata": {"ticket": f"BENCH-{rng.randint(1, 9999)}"} if rng.random() < 0.2 else {},
    }


def write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def fill(home: Path, workdirs: list[Path], count: int, seed: int) -> tuple[list, list[str]]:
    """Write count session files; returns (files the clean will remove, all ids)."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    old_cutoff = now - timedelta(days=CLEAN_DAYS - 1)  # a day of margin
    root = home / "sessions"
    os.makedirs(root, mode=0o700)
    os.chmod(home, 0o700)
    keys = []
    for wd in workdirs:
        key = dirkey(str(wd))
        os.mkdir(root / key, 0o700)
        keys.append(key)
    old, ids = [], []
    for i in range(count):
        d = i % len(workdirs)
        record = make_record(rng, str(workdirs[d]), now)
        data = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode()
        path = root / keys[d] / f"{record['id']}.json"
        write_file(path, data)
        ids.append(record["id"])
        if record["last_used"] < rfc3339(old_cutoff):
            old.append((path, data))
    stamp = home / "last-clean"  # auto-clean already ran today: keep it out of the timings
    write_file(stamp, (now.isoformat() + "\n").encode())
    return old, ids


def restore(old: list) -> int:
    n = 0
    for path, data in old:
        if not path.exists():
            os.makedirs(path.parent, mode=0o700, exist_ok=True)
            write_file(path, data)
            n += 1
    return n


# -- running clinvk -----------------------------------------------------------------------
class Runner:
    def __init__(self, home: Path | None, cwd: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CLINVK_")}
        if home is not None:
            self.env["CLINVK_HOME"] = str(home)
        self.env.pop("NO_COLOR", None)
        self.cwd = cwd

    def once(self, argv: list[str], cwd: Path | None = None) -> tuple[float, subprocess.CompletedProcess]:
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd or self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True)
        return time.perf_counter() - started, done

    def clinvk(self, *args: str, cwd: Path | None = None) -> tuple[float, subprocess.CompletedProcess]:
        return self.once([sys.executable, "-m", "clinvk", *args], cwd)


def unavailable(done: subprocess.CompletedProcess) -> bool:
    err = done.stderr.decode(errors="replace").lower()
    return done.returncode == 2 and ("no such command" in err or "no such option" in err)


def check(done: subprocess.CompletedProcess, what: str) -> None:
    if done.returncode != 0:
        raise SystemExit(f"{what} failed ({done.returncode}):\n"
                         f"{done.stderr.decode(errors='replace')[-2000:]}")
    noise = [line for line in done.stderr.decode(errors="replace").splitlines()
             if "warning" in line or "error" in line]
    if noise:
        raise SystemExit(f"{what} complained:\n" + "\n".join(noise[:5]))


class Store:
    """One filled store of `count` sessions, with its index built."""

    def __init__(self, count: int, tmp: Path, seed: int) -> None:
        self.count = count
        self.base = Path(tempfile.mkdtemp(prefix=f"store-{count}-", dir=tmp))
        work = self.base / "work"
        self.workdirs = []
        for d in range(NDIRS):
            wd = work / f"project-{d:03d}"
            wd.mkdir(parents=True)
            self.workdirs.append(wd.resolve())
        self.home = self.base / "clinvk-home"
        self.home.mkdir()
        started = time.perf_counter()
        self.old, ids = fill(self.home, self.workdirs, count, seed)
        self.fill_s = time.perf_counter() - started
        self.files_mb = sum(f.stat().st_size for f in self.home.glob("sessions/*/*.json")) / 1e6
        self.prefix = ids[len(ids) // 2][:8]
        self.here = self.workdirs[7]
        self.runner = Runner(self.home, work)
        self.index_s, done = self.runner.clinvk("sessions", "list", "-n", "1")
        check(done, "first sessions list (index build)")
        self.settle()

    def settle(self) -> None:
        """Let fresh mtimes age past the index's 2 s racy window, then sync it once."""
        time.sleep(2.5)
        _, done = self.runner.clinvk("sessions", "list", "-n", "1")
        check(done, "index re-sync")

    def args(self, key: str) -> tuple[list[str], Path | None]:
        cmd, cwd = COMMANDS[key]
        return [self.prefix if a == "PREFIX" else a for a in cmd], (self.here if cwd else None)

    def clean_once(self) -> tuple[float, int]:
        """Restore the removed files, re-sync the index (untimed), then time one clean."""
        restore(self.old)
        self.settle()
        elapsed, done = self.runner.clinvk("sessions", "clean", "--older-than", f"{CLEAN_DAYS}d")
        check(done, "sessions clean")
        match = re.search(rb"removed ([0-9,]+) session", done.stdout)
        return elapsed, int(match.group(1).replace(b",", b"")) if match else -1


# key -> (arguments, run from one of the 200 working directories)
COMMANDS: dict[str, tuple[list[str], bool]] = {
    "list -n 20": (["sessions", "list", "-n", "20"], False),
    "show PREFIX": (["sessions", "show", "PREFIX"], False),
    "list -n 1": (["sessions", "list", "-n", "1"], False),
    "list -n 1 --here": (["sessions", "list", "-n", "1", "--here"], True),
    "search WORD": (["sessions", "search", SEARCH_WORD], False),
    "list --tag bench --since 7d": (["sessions", "list", "--tag", "bench", "--since", "7d"], False),
    "stats --by backend": (["sessions", "stats", "--by", "backend"], False),
}


def bench_stores(stores: list[Store], runs: int) -> dict[int, dict[str, object]]:
    """Median wall time of each command on each store, the sizes interleaved run by run so
    that background load hits them alike (the flat-in-N ratio is what matters)."""
    rows: dict[int, dict[str, object]] = {
        s.count: {"fill_s": s.fill_s, "files_mb": s.files_mb, "index_s": s.index_s}
        for s in stores}
    for key in COMMANDS:
        times: dict[int, list[float]] = {s.count: [] for s in stores}
        absent = False
        for i in range(runs + 1):  # run 0 is the warm-up
            for store in stores:
                argv, cwd = store.args(key)
                elapsed, done = store.runner.clinvk(*argv, cwd=cwd)
                if i == 0 and key in OPTIONAL and unavailable(done):
                    absent = True
                    break
                check(done, "clinvk " + " ".join(argv))
                if i:
                    times[store.count].append(elapsed)
            if absent:
                break
        for store in stores:
            rows[store.count][key] = None if absent else statistics.median(times[store.count])
    for store in stores:  # cleans change the store: one size at a time
        results = [store.clean_once() for _ in range(runs + 1)][1:]
        rows[store.count]["clean --older-than (~10%)"] = statistics.median(t for t, _ in results)
        rows[store.count]["clean_removed"] = statistics.median(n for _, n in results)
    return rows


def bench_startup(runs: int, tmp: Path) -> dict[str, float]:
    empty_home = tmp / "empty-home"  # absent: nothing is created by reads
    runner = Runner(empty_home, tmp)
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "clinvk --help": [sys.executable, "-m", "clinvk", "--help"],
        "sessions list (empty store)": [sys.executable, "-m", "clinvk", "sessions", "list"],
    }
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for i in range(runs + 1):  # interleaved, so that machine noise hits all alike
        for name, argv in cmds.items():
            elapsed, done = runner.once(argv)
            check(done, name)
            if i:
                times[name].append(elapsed)
    if empty_home.exists():
        raise SystemExit(f"`sessions list` on an empty store created {empty_home}")
    return {name: statistics.median(ts) for name, ts in times.items()}


# -- report -------------------------------------------------------------------------------
LOOKUPS = ("list -n 20", "show PREFIX", "list -n 1", "list -n 1 --here")
OPTIONAL = ("search WORD", "list --tag bench --since 7d", "stats --by backend")


def fmt_s(value: object) -> str:
    return NA if value is None else f"{value:.3f} s"


def report(sizes: list[int], results: dict[int, dict], startup: dict[str, float],
           runs: int, startup_runs: int) -> tuple[str, list[str]]:
    lo, hi = min(sizes), max(sizes)
    misses: list[str] = []
    head = "| command | " + " | ".join(f"{n:,}" for n in sizes) + f" | {hi:,} / {lo:,} | target |"
    lines = [head, "|" + "---|" * (len(sizes) + 3)]

    def row(name: str, key: str, target: str, judge: bool) -> None:
        values = [results[n][key] for n in sizes]
        ratio = "-"
        verdict = ""
        if values[0] is not None and values[-1] is not None and len(sizes) > 1:
            r = values[-1] / values[0]
            ratio = f"{r:.2f}×"
            if judge:
                ok = values[-1] <= LOOKUP_TARGET_S and r <= FLAT_FACTOR
                verdict = " ✅" if ok else " ❌"
                if not ok:
                    misses.append(f"{name}: {values[-1]:.3f} s at {hi:,}, {r:.2f}× of {lo:,}")
        lines.append(f"| `{name}` | " + " | ".join(fmt_s(v) for v in values)
                     + f" | {ratio} | {target}{verdict} |")

    lines.append("| index build (first `sessions list -n 1` after the fill) | "
                 + " | ".join(f"{results[n]['index_s']:.2f} s" for n in sizes) + " | - | - |")
    for key in LOOKUPS:
        cmd = "sessions " + key.replace("PREFIX", "<8-char prefix>")
        row(cmd, key, f"≤ {LOOKUP_TARGET_S} s, ≤ {FLAT_FACTOR}×", True)
    for key in OPTIONAL:
        cmd = "sessions " + key.replace("WORD", SEARCH_WORD)
        row(cmd, key, f"≤ {LOOKUP_TARGET_S} s, ≤ {FLAT_FACTOR}× (optional)", True)
    row(f"sessions clean --older-than {CLEAN_DAYS}d", "clean --older-than (~10%)",
        "(removes ~10%)", False)
    lines.append("| sessions removed per clean | "
                 + " | ".join(f"{results[n]['clean_removed']:,.0f}" for n in sizes) + " | - | - |")
    lines.append("| (fill: files written directly, MB) | "
                 + " | ".join(f"{results[n]['fill_s']:.1f} s, {results[n]['files_mb']:.0f} MB"
                              for n in sizes) + " | - | - |")

    bare = startup["python -c pass"]
    lines += ["", "| startup (empty store) | median | × `python -c pass` | target |", "|---|---|---|---|"]
    for name, value in startup.items():
        factor = value / bare
        if name == "python -c pass":
            lines.append(f"| `{name}` | {value * 1000:.1f} ms | 1.00× | - |")
            continue
        ok = factor <= STARTUP_FACTOR
        if not ok:
            misses.append(f"{name}: {factor:.2f}× python -c pass")
        lines.append(f"| `clinvk {name.removeprefix('clinvk ')}` | {value * 1000:.1f} ms | "
                     f"{factor:.2f}× | ≤ {STARTUP_FACTOR}× {'✅' if ok else '❌'} |")
    notes = [
        "",
        f"Whole processes: `{Path(sys.executable).name} -m clinvk ...`; median wall time of "
        f"{runs} runs after one warm-up, the sizes interleaved run by run (startup rows: "
        f"{startup_runs} interleaved runs each). {NDIRS} working directories, last_used spread "
        f"over {DAYS} days, files written directly in the store's format, then the first "
        "command builds the index (row 1). Each timed clean starts from the same store: the "
        "removed files are written back and one untimed `sessions list -n 1` re-syncs the "
        "index. Auto-clean kept out of the runs via a fresh `last-clean` stamp; no config.yaml.",
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d')}; `python bench/store_bench.py --runs {runs} "
        f"--startup-runs {startup_runs}`.",
    ]
    return "\n".join(lines + notes), misses


def write_section(body: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    section = f"{HEADING}\n\n{body}\n"
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--startup-runs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--tmp", default="/tmp", help="where to build the stores (deleted after)")
    parser.add_argument("--write", action="store_true",
                        help=f"replace the '{HEADING}' section of {RESULTS.relative_to(REPO)}")
    parser.add_argument("--fill-only", metavar="DIR",
                        help="only fill DIR/clinvk-home (+ DIR/work/project-NNN) with the "
                             "largest size and stop: a store to profile by hand")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.fill_only:
        base = Path(args.fill_only).resolve()
        workdirs = [base / "work" / f"project-{d:03d}" for d in range(NDIRS)]
        for wd in workdirs:
            wd.mkdir(parents=True)
        fill(base / "clinvk-home", workdirs, sizes[-1], args.seed + sizes[-1])
        print(f"CLINVK_HOME={base / 'clinvk-home'}")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="clinvk-store-bench-", dir=args.tmp))
    try:
        startup = bench_startup(args.startup_runs, tmp)
        stores = []
        for n in sizes:
            print(f"... filling {n:,} sessions", file=sys.stderr, flush=True)
            stores.append(Store(n, tmp, args.seed + n))
        print("... timing", file=sys.stderr, flush=True)
        results = bench_stores(stores, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    body, misses = report(sizes, results, startup, args.runs, args.startup_runs)
    print(body)
    if misses:
        print("\nmissed targets:\n  " + "\n  ".join(misses), file=sys.stderr)
    if args.write:
        write_section(body)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""`clinvk sessions search --transcripts WORD` against `grep -rl WORD` over 1 GB of
backend transcripts (issue 11's last speed figure), measured as whole processes.

The scratch HOME (built once, kept and reused with --dir) holds 10,000 session records
written through the store's own batch writer (clinvk.store.write plan/commit: real,
validated records, indexed) and, for each, a backend transcript of about 100 kB where its
backend keeps it: claude `~/.claude/projects/<cwd>/<id>.jsonl`, codex
`~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`, gemini
`~/.gemini/tmp/<slug>/chats/session-<time>-<id8>.jsonl` (slugs in `projects.json`). The
lines are those of the real samples in tests/samples/stores/ (their headers, attachments,
session_meta, turn blocks...) with fresh ids, working dirs (300 of them) and texts made of
the samples' words, code identifiers and numbers. Half the records have origin "adopted".
WORD is planted in the transcripts of 1 % of the sessions (never in their first prompt)
and in the titles only of 5 others.

Then, paired and alternating, median of --runs runs after one warm-up each: `grep -rl WORD
<the three store folders>` and `clinvk sessions search --transcripts WORD` (the console
entry `python -m clinvk`, default -n 20, with and without --json). Before the runs every
transcript is read once (page cache warm) and clinvk's transcript cache is built by one
first search, which is timed and reported alone (cold cache). A check with -n 100000
compares the sessions found: clinvk's hits = grep's files' sessions + the title-only ones.

CLINVK_HOME and HOME point into the scratch folder; CLAUDE_CONFIG_DIR, CODEX_HOME,
GEMINI_CLI_HOME and XDG_* are removed, so nothing of the real user is read. The config
turns off auto-clean and adopt.auto.

    python bench/search_transcripts.py [--dir DIR] [--sessions 10000] [--kb 100] [--runs 7]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SAMPLES = REPO / "tests" / "samples" / "stores"
WORD = "quetzalcoatl"
TITLE_ONLY = 5
NDIRS = 300
STORES = (".claude/projects", ".codex/sessions", ".gemini/tmp")
TEXT_SHARE = {"claude": 0.66, "codex": 0.33, "gemini": 0.82}  # of a file's bytes: its texts
CONFIG = "session:\n  auto_clean: false\nadopt:\n  auto: false\n"


def _sample_lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (SAMPLES / name).read_text().splitlines() if line.strip()]


def _vocabulary() -> list[str]:
    """Words of the samples' texts plus code-ish identifiers."""
    raw = " ".join((SAMPLES / n).read_text() for n in ("claude-projects-transcript.jsonl",
                                                        "codex-rollout.jsonl"))
    words = {w.strip(".,:;()[]{}\"'`<>\\/") for w in raw.replace("\\n", " ").split()}
    words = sorted(w for w in words if 2 < len(w) < 16 and w.isascii() and w.isalpha())
    words = [w for w in words if WORD not in w.lower()]
    rng = random.Random(7)
    idents = [f"{rng.choice(words).lower()}_{rng.choice(words).lower()}" for _ in range(3000)]
    return words + idents


class Texts:
    """Message texts: sentences of the vocabulary with paths, numbers and hex ids."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        vocab = _vocabulary()
        self.sentences = []
        for _ in range(20000):
            words = rng.choices(vocab, k=rng.randint(6, 18))
            if rng.random() < 0.3:
                words.append(f"src/{rng.choice(vocab).lower()}/{rng.choice(vocab).lower()}.py:"
                             f"{rng.randint(1, 999)}")
            self.sentences.append(" ".join(words).capitalize() + rng.choice(".!?:"))

    def text(self, size: int) -> str:
        out, n = [], 0
        while n < size:
            piece = self.rng.choice(self.sentences)
            if self.rng.random() < 0.15:
                piece += f" ({self.rng.getrandbits(48):012x})"
            if self.rng.random() < 0.1:
                piece += "\n\n"
            out.append(piece)
            n += len(piece) + 1
        return " ".join(out)


def _stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _swap(obj, old: dict[str, str]):
    """obj with every string's occurrences of old's keys replaced."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for key, value in old.items():
        text = text.replace(key, value)
    return json.loads(text)


class Writer:
    """One backend transcript per session, from the samples' lines."""

    def __init__(self, home: Path, texts: Texts, size: int) -> None:
        self.home, self.texts, self.size = home, texts, size
        self.claude = _sample_lines("claude-projects-transcript.jsonl")
        self.codex = _sample_lines("codex-rollout.jsonl")
        self.gemini = _sample_lines("gemini-chat.jsonl")
        self.slugs: dict[str, str] = {}

    def _texts(self, backend: str, first: str, plant: bool) -> list[str]:
        """User/assistant texts, for a file of ~size bytes; WORD (if plant) in a later one."""
        rng = self.texts.rng
        out, n = [first], len(first)
        while n < self.size * TEXT_SHARE[backend]:
            piece = self.texts.text(rng.randint(300, 4000))
            out.append(piece)
            n += len(piece)
        if plant:
            k = rng.randrange(1, len(out))
            words = out[k].split(" ")
            words.insert(rng.randrange(len(words)), rng.choice((WORD, WORD + ".", f"`{WORD}`")))
            out[k] = " ".join(words)
        return out

    def claude_file(self, bsid: str, cwd: str, start: datetime, texts: list[str]) -> Path:
        from clinvk.backends.claude_store import project_dir_name

        swap = {"8b9a0c36-b6a5-42b0-a483-53e93009ce30": bsid, "/home/user/proj": cwd}
        head = [_swap(line, swap) for line in self.claude[:2] + self.claude[3:6]]
        user, assistant = (_swap(self.claude[2], swap), _swap(self.claude[17], swap))
        lines = list(head)
        for n, text in enumerate(texts):
            line = json.loads(json.dumps(user if n % 2 == 0 else assistant))
            line["uuid"], line["timestamp"] = str(uuid.UUID(int=self.texts.rng.getrandbits(128))), \
                _stamp(start + timedelta(seconds=n * 20))
            if n % 2 == 0:
                line["message"]["content"] = text
            else:
                line["message"]["content"][0]["text"] = text
                line["message"]["id"] = f"msg_{n:04d}{bsid[:12]}"
            lines.append(line)
        path = self.home / ".claude" / "projects" / project_dir_name(cwd) / f"{bsid}.jsonl"
        return self._write(path, lines)

    def codex_file(self, bsid: str, cwd: str, start: datetime, texts: list[str]) -> Path:
        swap = {"01a20592-dc3e-72b0-bd0f-2803fb0461c4": bsid, "/home/user/proj": cwd}
        lines = [_swap(line, swap) for line in self.codex[:7]]
        block = [_swap(line, swap) for line in self.codex[15:24]]  # one turn
        for n in range(0, len(texts), 2):
            for line in json.loads(json.dumps(block)):
                payload = line.get("payload") or {}
                if line.get("type") == "response_item" and payload.get("type") == "message":
                    k = n if payload.get("role") == "user" else n + 1
                    if k < len(texts):
                        payload["content"][0]["text"] = texts[k]
                line["timestamp"] = _stamp(start + timedelta(seconds=n * 20))
                lines.append(line)
        day = start.strftime("%Y/%m/%d")
        name = f"rollout-{start.strftime('%Y-%m-%dT%H-%M-%S')}-{bsid}.jsonl"
        return self._write(self.home / ".codex" / "sessions" / day / name, lines)

    def gemini_file(self, bsid: str, cwd: str, start: datetime, texts: list[str]) -> Path:
        head = dict(self.gemini[0], sessionId=bsid, startTime=_stamp(start),
                    projectHash=hashlib.sha256(cwd.encode()).hexdigest())
        lines = [head]
        for n, text in enumerate(texts):
            lines.append({"id": str(uuid.UUID(int=self.texts.rng.getrandbits(128))),
                          "timestamp": _stamp(start + timedelta(seconds=n * 20)),
                          "type": "user" if n % 2 == 0 else "gemini",
                          "content": [{"text": text}] if n % 2 == 0 else text})
            lines.append({"$set": {"lastUpdated": _stamp(start + timedelta(seconds=n * 20))}})
        slug = self.slugs.setdefault(cwd, f"{os.path.basename(cwd)}-{len(self.slugs)}")
        name = f"session-{start.strftime('%Y-%m-%dT%H-%M')}-{bsid[:8]}.jsonl"
        return self._write(self.home / ".gemini" / "tmp" / slug / "chats" / name, lines)

    def _write(self, path: Path, lines: list[dict]) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n"
                       for line in lines)
        path.write_text(data, encoding="utf-8")
        return path

    def finish(self) -> None:
        registry = {"projects": self.slugs}
        (self.home / ".gemini" / "projects.json").write_text(json.dumps(registry))


def _record(backend: str, cwd: str, bsid: str, start: datetime, texts: list[str], adopted: bool,
            title: str | None) -> dict:
    from clinvk.store.session import add_turn, new_session

    record = new_session(backend, cwd, backend_session_id=bsid, now=start, title=title,
                         origin="adopted" if adopted else "clinvk")
    for n in range(0, min(len(texts), 6), 2):
        add_turn(record, prompt=texts[n][:300], duration_ms=9000, exit_code=0,
                 usage={"input_tokens": 1200, "output_tokens": 300},
                 at=start + timedelta(seconds=n * 20 + 10))
    return record


def build(root: Path, count: int, kb: int, seed: int = 11) -> dict:
    """Fill root/home; returns the manifest (also written to root/manifest.json)."""
    from clinvk.store import SessionStore
    from clinvk.store.write import commit, plan

    home = root / "home"
    clinvk_home = home / ".clinvk"
    clinvk_home.mkdir(parents=True, exist_ok=True)
    (clinvk_home / "config.yaml").write_text(CONFIG)
    rng = random.Random(seed)
    writer = Writer(home, Texts(rng), kb * 1000)
    dirs = [f"/home/user/work/{rng.choice(('api', 'web', 'cli', 'infra', 'ml'))}-{n:03d}"
            for n in range(NDIRS)]
    planted = set(rng.sample(range(count), count // 100))
    titled = set(rng.sample([n for n in range(count) if n not in planted], TITLE_ONLY))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    store = SessionStore(clinvk_home)
    manifest: dict = {"word": WORD, "planted": [], "titled": [], "count": count, "kb": kb}
    batch: list[dict] = []
    for n in range(count):
        backend = ("claude", "codex", "gemini")[n % 3]
        cwd = rng.choice(dirs)
        bsid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        start = now - timedelta(days=60) + timedelta(seconds=n * 500)
        texts = writer._texts(backend, f"{rng.choice(writer.texts.sentences)} in {cwd}", n in planted)
        getattr(writer, f"{backend}_file")(bsid, cwd, start, texts)
        title = f"about {WORD} again" if n in titled else None
        record = _record(backend, cwd, bsid, start, texts, n % 2 == 0, title)
        batch.append(record)
        if n in planted:
            manifest["planted"].append(record["id"])
        if n in titled:
            manifest["titled"].append(record["id"])
        if len(batch) == 500 or n == count - 1:
            with store.lock():
                commit(store, plan(store, batch, set()))
            batch = []
            print(f"  {n + 1} sessions", file=sys.stderr, end="\r")
    writer.finish()
    store.close()
    (root / "manifest.json").write_text(json.dumps(manifest))
    print(file=sys.stderr)
    return manifest


class Runner:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        drop = ("CLINVK_", "XDG_", "CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_CLI_HOME")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        self.env.update(HOME=str(self.home), CLINVK_HOME=str(self.home / ".clinvk"))
        self.stores = [str(self.home / s) for s in STORES]

    def run(self, argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
        t0 = time.perf_counter()
        done = subprocess.run(argv, cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True)
        return time.perf_counter() - t0, done

    def grep(self, word: str) -> tuple[float, subprocess.CompletedProcess]:
        return self.run(["grep", "-rl", word, *self.stores])

    def clinvk(self, *args: str) -> tuple[float, subprocess.CompletedProcess]:
        return self.run([sys.executable, "-m", "clinvk", "sessions", "search", "--transcripts",
                         *args])


def warm_files(runner: Runner) -> float:
    """Read every transcript once (page cache); seconds taken."""
    t0 = time.perf_counter()
    for store in runner.stores:
        for folder, _dirs, files in os.walk(store):
            for name in files:
                with open(os.path.join(folder, name), "rb") as fh:
                    while fh.read(1 << 20):
                        pass
    return time.perf_counter() - t0


def _sessions_of_files(runner: Runner, paths: list[str]) -> set[str]:
    """clinvk ids of the sessions whose transcript files grep listed."""
    import sqlite3

    from clinvk.backends._jsonl import read_first_json_line

    bsids = set()
    for path in paths:
        name = os.path.basename(path)
        if "/.claude/" in path:
            bsids.add(name[:-6])
        elif "/.codex/" in path:
            bsids.add(name[-42:-6])
        else:
            bsids.add(read_first_json_line(Path(path)).get("sessionId"))
    db = sqlite3.connect(runner.home / ".clinvk" / "index.sqlite3")
    rows = db.execute("SELECT id, backend_session_id FROM sessions").fetchall()
    db.close()
    return {sid for sid, bsid in rows if bsid in bsids}


def check(runner: Runner, manifest: dict) -> str:
    _, grep = runner.grep(WORD)
    _, found = runner.clinvk(WORD, "-n", "100000", "--json")
    if found.returncode != 0:
        raise SystemExit(f"clinvk failed: {found.stderr.decode()}")
    hits = {hit["id"] for hit in json.loads(found.stdout)}
    by_grep = _sessions_of_files(runner, grep.stdout.decode().splitlines())
    want = set(manifest["planted"]) | set(manifest["titled"])
    ok = hits == by_grep | set(manifest["titled"]) and by_grep == set(manifest["planted"])
    return (f"{'same sessions' if ok else 'DIFFERENT'}: grep {len(by_grep)} files' sessions, "
            f"clinvk {len(hits)} hits (planted {len(manifest['planted'])} + "
            f"title-only {len(manifest['titled'])}; expected {len(want)})")


def measure(runner: Runner, runs: int) -> dict[str, list[float]]:
    """Paired and alternating: grep, clinvk, clinvk --json, one warm-up round first."""
    kinds = {"grep -rl": lambda: runner.grep(WORD),
             "clinvk search --transcripts": lambda: runner.clinvk(WORD),
             "clinvk search --transcripts --json": lambda: runner.clinvk(WORD, "--json")}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for n in range(runs + 1):
        order = list(kinds) if n % 2 == 0 else list(reversed(kinds))
        for kind in order:
            took, done = kinds[kind]()
            if done.returncode not in (0, 1):
                raise SystemExit(f"{kind} failed: {done.stderr.decode()}")
            if n:
                times[kind].append(took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, help="scratch folder (built once, then reused)")
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--kb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep-cache", action="store_true",
                        help="do not delete clinvk's transcript cache first (no cold run)")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="clinvk-search-bench-"))
    manifest_path = root / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
    else:
        t0 = time.perf_counter()
        manifest = build(root, args.sessions, args.kb)
        print(f"built {root} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    runner = Runner(root)
    total = sum(f.stat().st_size for s in runner.stores for f in Path(s).rglob("*") if f.is_file())
    print(f"{manifest['count']} sessions, {total / 1e9:.2f} GB of transcripts in {root}")
    print(f"page cache: read all files once in {warm_files(runner):.1f} s")
    if not args.keep_cache:
        for leftover in (runner.home / ".clinvk").glob("transcripts.sqlite3*"):
            leftover.unlink()
        took, done = runner.clinvk(WORD)
        print(f"first search (cold transcript cache, builds it): {took:.2f} s "
              f"(exit {done.returncode})")
        cache = runner.home / ".clinvk" / "transcripts.sqlite3"
        print(f"transcript cache: {cache.stat().st_size / 1e6:.0f} MB" if cache.exists()
              else "transcript cache: none")
    print(check(runner, manifest))
    times = measure(runner, args.runs)
    medians = {kind: statistics.median(values) for kind, values in times.items()}
    for kind, values in times.items():
        print(f"{kind:38} median {medians[kind]:.3f} s  (runs: "
              f"{', '.join(f'{v:.3f}' for v in values)})")
    base = medians["grep -rl"]
    for kind in list(medians)[1:]:
        print(f"{kind} / grep = {medians[kind] / base:.2f}")
    if not args.dir:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()

"""Issue 11, archive: what keeping a gzip copy of the backend's transcript costs a turn, and how
big the copy is.

For each backend a ~100 kB store file is built from the tests' real samples
(tests/samples/stores: claude's project transcript cut at whole lines; codex's rollout and
gemini's chat, whose samples are smaller, grown by repeating their turns with fresh ids and
times) and planted where the backend keeps it. Then, in this process, the turn's own write
(`Recorder.finish`, the one store write of a turn) is timed in pairs, with and without the
archive (`archiver=clinvk.archive.refresh`), the order alternating; before each pair a line
is appended to the transcript so that every archived turn really writes a new copy (the
worst case). Printed: medians of the pair differences, of `refresh` alone when the
transcript changed / did not, and the archive's size against the transcript's.

    python bench/archive.py [--pairs 31]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "samples" / "stores"
TARGET = 100_000
WORKDIR = "/home/user/proj"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _lines(name: str, keep: str):
    """The sample's lines, then its lines after the first repeated forever with fresh ids
    (all but the session's own, `keep`)."""
    lines = (SAMPLES / name).read_text().splitlines()
    yield from lines
    while True:
        for line in lines[1:]:
            yield _UUID.sub(lambda m: m[0] if m[0] == keep else str(uuid.uuid4()), line)


SESSIONS = {  # backend -> (session id, sample, path under the store root)
    "claude": ("8b9a0c36-b6a5-42b0-a483-53e93009ce30", "claude-projects-transcript.jsonl",
               "projects/-home-user-proj/8b9a0c36-b6a5-42b0-a483-53e93009ce30.jsonl"),
    "codex": ("01a20592-dc3e-72b0-bd0f-2803fb0461c4", "codex-rollout.jsonl",
              "sessions/2026/11/22/rollout-2026-11-22T23-24-00-01a20592-dc3e-72b0-bd0f-"
              "2803fb0461c4.jsonl"),
    "gemini": ("5b4a512b-8d98-41cd-a496-76c356c7b970", "gemini-chat.jsonl",
               "tmp/proj/chats/session-2026-11-22T23-24-5b4a512b.jsonl"),
}


def build(backend: str):
    """(backend session id, path under the store root, ~100 kB of content (lines that would
    overshoot 105 kB left out), the iterator of the lines that follow)."""
    sid, sample, rel = SESSIONS[backend]
    lines = _lines(sample, sid)
    out, size = [], 0
    while size < TARGET - 5000:
        line = next(lines)
        if size + len(line) + 1 <= TARGET + 5000:
            out.append(line)
            size += len(line) + 1
    return sid, rel, ("\n".join(out) + "\n").encode(), lines


def setup(backend: str, tmp: Path):
    """An App on a fresh $CLINVK_HOME, the planted transcript and its session record."""
    from clinvk.app import App
    from clinvk.env import Environment
    from clinvk.store import session as sessions

    home = tmp / backend
    environ = {"HOME": str(home), "CLINVK_HOME": str(home / "clinvk"),
               "CLAUDE_CONFIG_DIR": str(home / ".claude"), "CODEX_HOME": str(home / ".codex"),
               "PATH": os.environ.get("PATH", "")}
    root = {"claude": home / ".claude", "codex": home / ".codex", "gemini": home / ".gemini"}
    sid, rel, content, more = build(backend)
    path = root[backend] / rel
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    app = App(Environment(environ=environ, cwd=str(tmp)))
    record = sessions.new_session(backend, WORKDIR, backend_session_id=sid, title="bench")
    return app, app.store.create(record), path, more


def _finish(app, record: dict, archived: bool) -> tuple[tuple[float, float], dict]:
    from clinvk.archive import RecorderArchive
    from clinvk.recorder import Recorder

    recorder = Recorder(app.store, record, exists=True,
                        archiver=RecorderArchive(app) if archived else None)
    start, cpu = time.perf_counter(), time.process_time()
    out = recorder.finish(prompt="next", duration_ms=1000, exit_code=0, usage=None,
                          cost_usd=None, status="active", error=None)
    return (time.perf_counter() - start, time.process_time() - cpu), out


TURN_BYTES = 4000  # at least this much added to the transcript per turn


def _grow(path: Path, more) -> None:
    """One more turn in the transcript: its next lines, at least TURN_BYTES."""
    added = []
    while sum(len(line) + 1 for line in added) < TURN_BYTES:
        added.append(next(more))
    with path.open("ab") as fh:
        fh.write(("\n".join(added) + "\n").encode())


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def measure(backend: str, pairs: int, tmp: Path) -> dict[str, float]:
    """Medians over `pairs`: each arm starts from the ~100 kB transcript, archived at its
    previous turn (untimed), then one turn is added to it and recorded."""
    import shutil

    from clinvk.archive import refresh
    from clinvk.archive_read import session_folder

    app, record, path, more = setup(backend, tmp)
    base = path.read_bytes()

    def reset() -> dict:
        path.write_bytes(base)
        value = refresh(app, record)
        fresh = app.store.update(record["id"], lambda r: r.update(archive=value) if value else None)
        _grow(path, more)
        return fresh

    diffs, cpu, changed, unchanged, whole, ratios = [], [], [], [], [], []
    for n in range(pairs):
        times = {}
        for archived in ((True, False) if n % 2 == 0 else (False, True)):
            record = reset()
            times[archived], record = _finish(app, record, archived)
        diffs.append(times[True][0] - times[False][0])
        cpu.append(times[True][1] - times[False][1])
        record = reset()
        took, value = _timed(lambda rec=record: refresh(app, rec))
        changed.append(took)
        record = app.store.update(record["id"], lambda r, v=value: r.update(archive=v))
        unchanged.append(_timed(lambda rec=record: refresh(app, rec))[0])
        shutil.rmtree(session_folder(app.settings.home, record["id"]))
        took, value = _timed(lambda rec=record: refresh(app, rec))
        whole.append(took)
        ratios.append(value["bytes"] / path.stat().st_size)
    long_ratio = _long_session(app, path, base, more)
    return {"transcript": len(base), "ratio": statistics.median(ratios), "long": long_ratio,
            "turn_added_ms": statistics.median(diffs) * 1000,
            "turn_cpu_ms": statistics.median(cpu) * 1000,
            "refresh_changed_ms": statistics.median(changed) * 1000,
            "refresh_unchanged_ms": statistics.median(unchanged) * 1000,
            "refresh_whole_ms": statistics.median(whole) * 1000}


def _long_session(app, path: Path, base: bytes, more, turns: int = 60) -> tuple[float, int]:
    """(archive / transcript, transcript bytes) after `turns` turns archived one by one from
    the ~100 kB start (the archive then holds gzip members per turn)."""
    from clinvk.archive import refresh
    from clinvk.store import session as sessions

    sid = app.store.get(app.store.list()[0]["id"])["backend_session_id"]
    record = app.store.create(sessions.new_session(app.store.list()[0]["backend"], WORKDIR,
                                                   backend_session_id=sid, title="long"))
    path.write_bytes(base)
    for _ in range(turns):
        value = refresh(app, record)
        if value:
            record = app.store.update(record["id"], lambda r, v=value: r.update(archive=v))
        _grow(path, more)
    value = refresh(app, record) or record["archive"]
    return value["bytes"] / path.stat().st_size, path.stat().st_size


def sample_ratios() -> list[tuple[str, int, int]]:
    """(sample, bytes, gzip bytes) of the real store samples as they are."""
    import gzip

    from clinvk.archive import LEVEL

    out = []
    for name in ("claude-projects-transcript.jsonl", "codex-rollout.jsonl", "gemini-chat.jsonl"):
        data = (SAMPLES / name).read_bytes()
        out.append((name, len(data), len(gzip.compress(data, LEVEL, mtime=0))))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=31)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    print(f"| backend | transcript | archive / transcript | after 60 more turns | added to a "
          f"turn, wall (median of {args.pairs} pairs) | of which CPU | refresh alone: a turn "
          "added | unchanged | first copy, whole |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="clinvk-bench-archive-") as tmp:
        for backend in ("claude", "codex", "gemini"):
            r = measure(backend, args.pairs, Path(tmp))
            ratio, size = r["long"]
            print(f"| {backend} | {r['transcript'] / 1000:.1f} kB | {100 * r['ratio']:.1f} % | "
                  f"{100 * ratio:.1f} % of {size / 1000:.0f} kB | {r['turn_added_ms']:.2f} ms | "
                  f"{r['turn_cpu_ms']:.2f} ms | {r['refresh_changed_ms']:.2f} ms | "
                  f"{r['refresh_unchanged_ms']:.2f} ms | {r['refresh_whole_ms']:.2f} ms |")
    print(f"\nload average during the run: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print()
    print("| real sample as it is | bytes | gzip | ratio |")
    print("|---|---|---|---|")
    for name, size, packed in sample_ratios():
        print(f"| {name} | {size} | {packed} | {100 * packed / size:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

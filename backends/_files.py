"""Finding a backend's own store files: which match a pattern, and which an interactive run
has just created. Nothing here knows a backend, clinvk's store or Click."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned


if TYPE_CHECKING:  # pathlib is not imported before a turn's backend is spawned
    from pathlib import Path


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def glob_files(folder: Path, pattern: str) -> set[Path]:
    """The regular files under `folder` that match `pattern` (none when it cannot be read)."""
    try:
        return {p for p in folder.glob(pattern) if p.is_file()}
    except OSError:
        return set()


CLOCK_SLACK = 2.0  # seconds a store file's mtime may lie before the run's recorded start


def fresh_files(found: set[Path], before: set[Path], started_at: float) -> list[Path]:
    """The files of `found` that were not there `before` and were written since `started_at`
    (epoch seconds, less CLOCK_SLACK), newest first: what an interactive run may have created."""
    fresh = [p for p in found - before if mtime(p) >= started_at - CLOCK_SLACK]
    return sorted(fresh, key=mtime, reverse=True)

"""The journal of a batch write (`sessions import`, store_write): which temp files become
which session files, and which copies they replace. `recover` finishes a batch from its
journal; it works on paths alone, so that the store can run it whenever it takes its lock
while a journal is there (a writer that died or failed during its renames)."""

from __future__ import annotations

import os
from pathlib import Path

from clinvk.ids import is_valid_id
from clinvk.store.files import discard, fsync_dir

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any

JOURNAL = ".batch-journal.json"


def recover(root: Path, moves: Any = None) -> bool:
    """Finish the renames of a batch (its journal's, or `moves`) and remove the copies they
    replace, then the journal; the caller holds the store lock (taken over from a writer
    that died or failed during them, or its own). False, with the journal and its temp
    files kept for the next try, when a step failed."""
    import json

    journal = root / JOURNAL
    if moves is None:
        try:
            moves = json.loads(journal.read_bytes())["moves"]
        except FileNotFoundError:
            return True
        except (OSError, ValueError, KeyError, TypeError):
            moves = []
    lines = [p for p in map(lambda m: _journal_paths(root, m), moves if isinstance(moves, list)
                            else []) if p is not None]
    done = True
    folders: set[Path] = set()
    for tmp, final, _old in lines:
        try:
            if os.path.lexists(tmp):
                os.replace(tmp, final)
            folders.add(final.parent)
        except OSError:
            done = False
    for tmp, final, old in lines:  # after the renames: an id is never missing
        if old is not None and not os.path.lexists(tmp) and os.path.lexists(final):
            try:
                os.unlink(old)
                folders.add(old.parent)
            except FileNotFoundError:
                pass
            except OSError:
                done = False
    for folder in folders:
        try:
            fsync_dir(folder)
        except OSError:
            done = False
    if done:
        discard(journal)
    return done


def _journal_paths(root: Path, move: Any) -> tuple[Path, Path, Path | None] | None:
    """The (temp, final, replaced) paths of one journal line, if they are what commit writes."""
    if not isinstance(move, list) or len(move) != 3:
        return None
    out: list[Path | None] = []
    for n, rel in enumerate(move):
        if rel is None and n == 2:
            out.append(None)
            continue
        parts = rel.split("/") if isinstance(rel, str) else []
        if len(parts) != 2 or parts[0] in ("", "..") or parts[0].startswith("."):
            return None
        name_ok = (parts[1].startswith(".") and parts[1].endswith(".tmp")) if n == 0 else \
            (parts[1].endswith(".json") and is_valid_id(parts[1][:-5]))
        if not name_ok:
            return None
        out.append(root / parts[0] / parts[1])
    return out[0], out[1], out[2]  # type: ignore[return-value]

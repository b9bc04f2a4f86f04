"""What the last adopt saw of each backend store file: `$CLINVK_HOME/adopt-state.json`.

Derived and disposable: per backend, per file path, the size and mtime_ns the file had
when it was last read and what came of it (`adopted:<id>`, `known:<id>`, `none` (no
prompt), `skipped` with the reason). A file whose size and mtime are unchanged is only
stat'ed by the next adopt. Lost or damaged, the state is rebuilt by reading every file
again, which adopts nothing twice (adopt looks every conversation up in the store).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

VERSION = 1


class AdoptState:
    """The files each backend's store held at the last adopt, and what came of them."""

    def __init__(self, path: Path, files: dict[str, dict[str, list[Any]]] | None = None) -> None:
        self.path = path
        self.files = files or {}  # backend -> path -> [size, mtime_ns, result]
        self.changed = False

    @classmethod
    def load(cls, path: Path) -> AdoptState:
        """The state at `path`; an empty one when it is missing, damaged or of another version."""
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return cls(path)
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return cls(path)
        files = data.get("files")
        if not isinstance(files, dict):
            return cls(path)
        clean = {str(b): v for b, v in files.items() if isinstance(v, dict)}
        return cls(path, clean)

    def unchanged(self, backend: str, path: str, st: os.stat_result) -> bool:
        """Whether the file has the size and mtime it had when last read."""
        seen = self.files.get(backend, {}).get(path)
        return (isinstance(seen, list) and len(seen) == 3
                and seen[0] == st.st_size and seen[1] == st.st_mtime_ns)

    def result(self, backend: str, path: str) -> str | None:
        seen = self.files.get(backend, {}).get(path)
        return seen[2] if isinstance(seen, list) and len(seen) == 3 else None

    def note(self, backend: str, path: str, st: os.stat_result, result: str) -> None:
        """Remember what reading this version of the file gave."""
        self.files.setdefault(backend, {})[path] = [st.st_size, st.st_mtime_ns, result]
        self.changed = True

    def keep_only(self, backend: str, present: set[str]) -> None:
        """Forget the files of a backend that are gone (not those merely not listed now:
        another HOME or CLAUDE_CONFIG_DIR, say)."""
        known = self.files.get(backend) or {}
        for gone in [name for name in known if name not in present and not os.path.exists(name)]:
            del known[gone]
            self.changed = True

    def save(self) -> None:
        """Write the state (atomically, 0600) when it changed; a failure only costs time."""
        if not self.changed:
            return
        from clinvk.atomic import write_atomic

        try:
            write_atomic(self.path, json.dumps({"version": VERSION, "files": self.files},
                                                separators=(",", ":")).encode())
        except OSError:
            return
        self.changed = False

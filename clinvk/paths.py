"""Every filesystem location clinvk uses, with its environment override."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:  # pathlib is not imported before a turn's backend is spawned
    from collections.abc import Mapping
    from pathlib import Path


def clinvk_home_text(environ: Mapping[str, str] | None = None) -> str:
    """$CLINVK_HOME, default ~/.clinvk, as a string (no pathlib: a turn's launch path)."""
    env = os.environ if environ is None else environ
    value = env.get("CLINVK_HOME")
    if value:
        return os.path.expanduser(value)
    return os.path.join(env.get("HOME") or os.path.expanduser("~"), ".clinvk")


def clinvk_home(environ: Mapping[str, str] | None = None) -> Path:
    """$CLINVK_HOME, default ~/.clinvk."""
    from pathlib import Path

    return Path(clinvk_home_text(environ))


def sessions_dir(home: Path) -> Path:
    return home / "sessions"


def index_path(home: Path) -> Path:
    return home / "index.sqlite3"


def transcript_cache_path(home: Path) -> Path:
    """The derived cache of transcript text for `sessions search --transcripts`."""
    return home / "transcripts.sqlite3"


def archive_dir(home: Path) -> Path:
    """Gzip copies of the backends' transcripts, one folder per session."""
    return home / "archive"


def adopt_state_path(home: Path) -> Path:
    """What the last adopt saw of each backend store file (derived; rebuilt when lost)."""
    return home / "adopt-state.json"


def lock_path(home: Path) -> Path:
    return home / "store.lock"


def clean_stamp_path(home: Path) -> Path:
    return home / "last-clean"


def default_config_path(home: Path) -> Path:
    return home / "config.yaml"

"""The config file as last parsed, kept in `$CLINVK_HOME/.config-cache` so that a turn does not
import yaml before its backend is spawned (~45 ms here, for anyone with a config file).

The entry (marshal: dicts, lists and scalars, what a YAML config holds) names the file and
its signature (device, inode, size, mtime, ctime) when it was parsed; it is used only while
the file still has that signature. A file changed within RACY_NS of being parsed is not kept (a second
change in the same timestamp tick, of the same size, would look unchanged): it is parsed again
the next time. The entry is written 0600 (the config may hold keys in `env:`), atomically;
one that cannot be read, or of another format or Python version, is ignored and replaced."""

from __future__ import annotations

import marshal
import os
import sys
import time

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from typing import Any

NAME = ".config-cache"
VERSION = (1, sys.hexversion)
RACY_NS = 2_000_000_000


def _signature(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def read(home: str, name: str, st: os.stat_result) -> tuple[Any, str] | None:
    """(data, the file's name as shown) of `name` as parsed before, when unchanged since."""
    try:
        with open(os.path.join(home, NAME), "rb") as fh:
            entry = marshal.load(fh)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (not isinstance(entry, tuple) or len(entry) != 5 or entry[0] != VERSION
            or entry[1] != name or entry[2] != _signature(st) or not isinstance(entry[4], str)):
        return None
    return entry[3], entry[4]


def write(home: str, name: str, st: os.stat_result, data: Any, shown: str) -> None:
    """Keep the parsed `data` of `name` (quietly nothing when it cannot be kept)."""
    if time.time_ns() - st.st_mtime_ns < RACY_NS:  # just changed (or a clock behind the file)
        return
    try:
        blob = marshal.dumps((VERSION, name, _signature(st), data, shown))
    except ValueError:  # a value marshal cannot hold (a YAML timestamp, say): parsed each time
        return
    target = os.path.join(home, NAME)
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, blob)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass

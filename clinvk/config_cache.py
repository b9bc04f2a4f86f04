"""The config file as last parsed, kept in `$CLINVK_HOME/.config-cache` so that a turn does not
import yaml before its backend is spawned (~45 ms here, for anyone with a config file).

The entry (marshal: dicts, lists and scalars, what a YAML config holds) names the file and
its signature (device, inode, size, mtime, ctime) when it was parsed; it is used only while
the file still has that signature. A file changed within RACY_NS of being parsed is not kept (a second
change in the same timestamp tick, of the same size, would look unchanged): it is parsed again
the next time. The entry is written 0600 (the config may hold keys in `env:`), atomically,
after a magic and the sha256 of its marshal data: marshal is not safe on damaged data (a
damaged count makes it allocate gigabytes, or spin for seconds), so nothing is unmarshalled
that does not match its digest. One that cannot be read, damaged, or of another format or
Python version, is ignored and replaced."""

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
MAGIC = b"clinvk-config-cache\n"
MAX_BYTES = 64 << 20  # a config is at most 1,000,000 characters (config_file)


def _signature(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _digest(blob: bytes) -> bytes:
    from clinvk.hashing import sha256

    return sha256(blob).digest()


def read(home: str, name: str, st: os.stat_result) -> tuple[Any, str] | None:
    """(data, the file's name as shown) of `name` as parsed before, when unchanged since."""
    try:
        with open(os.path.join(home, NAME), "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError:
        return None
    head, blob = raw[:len(MAGIC) + 32], raw[len(MAGIC) + 32:]
    if len(raw) > MAX_BYTES or head != MAGIC + _digest(blob):
        return None
    try:
        entry = marshal.loads(blob)
    except (EOFError, ValueError, TypeError, MemoryError, RecursionError):
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
    blob = MAGIC + _digest(blob) + blob
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

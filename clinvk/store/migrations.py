"""The ordered migration chain of a session record (SPEC "Session JSON", `schema_version`).

MIGRATIONS[n] turns a record of schema_version n into one of n + 1; `upgrade` applies the
steps in order, from the file's version up to SCHEMA_VERSION, when a file is read. Files are
never rewritten by a read: an upgraded record reaches the disk with the next write of that
session (a turn, a tag, a rename). A file of a version with no path to this one is an
invalid record, as before; a file written by a NEWER clinvk (schema_version above ours) is
a distinct case, `NewerRecord`: it is skipped with a warning that names its version, and
neither rewritten nor removed by `sessions clean` (nor replaced by an import).

Adding schema_version N + 1: set record_check.SCHEMA_VERSION = N + 1, write the step

    @migration(N)
    def _to_n_plus_1(record: dict) -> dict:
        ...  # the record of version N, changed in place or copied; schema_version is set after

and keep record_check's checks in the shape of version N + 1.
"""

from __future__ import annotations

from collections.abc import Callable

from clinvk.store.record_check import SCHEMA_VERSION, InvalidRecord

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any

    Step = Callable[[dict[str, Any]], dict[str, Any]]
MIGRATIONS: dict[int, Step] = {}  # from version -> the step to version + 1
NEWER = "written by a newer clinvk"  # how the reason of a skipped newer file begins


class NewerRecord(InvalidRecord):
    """A record written by a newer clinvk: its schema_version is above this clinvk's."""

    def __init__(self, version: int) -> None:
        super().__init__(f"{NEWER} (schema_version {version}; this clinvk reads up to "
                         f"{SCHEMA_VERSION}): left as it is, update clinvk to use it")
        self.version = version


def migration(from_version: int) -> Callable[[Step], Step]:
    """Register the step from `from_version` to the next version (a decorator)."""
    def register(step: Step) -> Step:
        MIGRATIONS[from_version] = step
        return step
    return register


def upgrade(obj: Any) -> Any:
    """obj brought up to SCHEMA_VERSION by the chain's steps, in order (obj itself when it is
    no dict with an integer schema_version, for the record check to reject, or is current);
    NewerRecord when it is newer, InvalidRecord when no step leads on from its version."""
    version = obj.get("schema_version") if isinstance(obj, dict) else None
    if type(version) is not int or version == SCHEMA_VERSION:
        return obj
    if version > SCHEMA_VERSION:
        raise NewerRecord(version)
    record = dict(obj)
    for step_from in range(version, SCHEMA_VERSION):
        step = MIGRATIONS.get(step_from)
        if step is None:
            raise InvalidRecord(f"unsupported schema_version {version}")
        record = step(record)
        record["schema_version"] = step_from + 1
    return record


@migration(1)
def _to_2(record: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2 (SPEC "Schema 2"): `origin`, `cost_source` and `archive` added.

    A version-1 record cannot tell an imported session from one clinvk started (import kept
    the record as it was), so every one becomes `origin: "clinvk"`. A version-1 cost was only
    ever the backend's own figure: `cost_source` is "reported" when `cost_usd` is set, else
    null. No transcript was archived yet: `archive` null. Turns are unchanged: `outside` is
    written only when true, and no version-1 turn was run outside clinvk."""
    record = dict(record)
    record["origin"] = "clinvk"
    record["cost_source"] = None if record.get("cost_usd") is None else "reported"
    record["archive"] = None
    return record

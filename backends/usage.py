"""Token usage in SPEC's normalised shape: the one vocabulary of the adapters, their
parsers and their store readers (of clinvk it imports only the vocabulary's names)."""

from __future__ import annotations

from clinvk.records import Record
from clinvk.usage_keys import COUNTED_KEYS as USAGE_FIELDS  # the one vocabulary (SPEC's)

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


class Usage(Record, frozen=True):
    """Token usage in SPEC's normalised shape (input includes cached, output includes reasoning)."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(getattr(self, f) + getattr(other, f) for f in USAGE_FIELDS))

    def __sub__(self, other: Usage) -> Usage:
        return Usage(*(max(0, getattr(self, f) - getattr(other, f)) for f in USAGE_FIELDS))

    def covers(self, other: Usage, names: Iterable[str] = USAGE_FIELDS) -> bool:
        """Whether every figure named in `names` is at least `other`'s."""
        return all(getattr(self, f) >= getattr(other, f) for f in names)

    def to_dict(self) -> dict[str, int]:
        out = {name: getattr(self, name) for name in self._fields}
        out["total_tokens"] = self.total_tokens
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object] | None) -> Usage:
        """Read a normalised usage dict (as stored in a session); unknown keys are ignored."""
        if not data:
            return cls()
        values = []
        for name in USAGE_FIELDS:
            value = data.get(name, 0)
            values.append(value if isinstance(value, int) and not isinstance(value, bool) else 0)
        return cls(*values)

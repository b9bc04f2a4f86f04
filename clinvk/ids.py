"""Session ids: 32 lowercase hex characters from a CSPRNG, and checks on user-given ids."""

from __future__ import annotations

import os
import re

from clinvk.errors import UsageError

ID_LENGTH = 32
MIN_PREFIX = 4
_HEX = re.compile(r"[0-9a-f]+")


def new_id() -> str:
    """A fresh session id (128 random bits as 32 lowercase hex characters).

    os.urandom is the CSPRNG that `secrets.token_hex` uses, without importing secrets
    (hmac, random, base64: a few milliseconds of every turn)."""
    return os.urandom(16).hex()


def is_valid_id(value: object) -> bool:
    """True for a complete id: exactly 32 lowercase hex characters."""
    return (
        isinstance(value, str) and len(value) == ID_LENGTH and _HEX.fullmatch(value) is not None
    )


def validate_id_or_prefix(value: object) -> str:
    """Return the lowercased id or prefix (4..32 hex characters), or raise UsageError."""
    if not isinstance(value, str):
        raise UsageError("invalid session id: expected a string of hex characters")
    text = value.strip()
    shown = text if len(text) <= 40 else text[:37] + "..."
    lowered = text.lower() if text.isascii() else text
    if not lowered:
        raise UsageError("invalid session id '': give an id or a prefix of at least 4 characters")
    if _HEX.fullmatch(lowered) is None:
        raise UsageError(
            f"invalid session id {shown!r}: only hex characters 0-9 and a-f are allowed"
        )
    if len(lowered) < MIN_PREFIX:
        raise UsageError(
            f"session id prefix {shown!r} is too short: give at least {MIN_PREFIX} characters"
        )
    if len(lowered) > ID_LENGTH:
        raise UsageError(f"invalid session id {shown!r}: ids are {ID_LENGTH} hex characters")
    return lowered

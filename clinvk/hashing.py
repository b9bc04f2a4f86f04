"""sha256 without loading OpenSSL: hashlib imports _hashlib, which starts libcrypto (~2.5 ms,
paid while a turn's backend runs, when a session's folder key or its archive digest is first
made); CPython's own sha256 module (_sha2 from 3.12, _sha256 before) gives the same digests in
~0.2 ms. hashlib where a build has neither."""

from __future__ import annotations

try:
    from _sha2 import sha256  # type: ignore[import-not-found]
except ImportError:  # Python 3.11
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,no-redef]
    except ImportError:  # a build without the built-in hashes
        from hashlib import sha256  # type: ignore[assignment]

__all__ = ["sha256"]

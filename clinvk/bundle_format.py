"""The export bundle's format, which `sessions export` (bundle.py) writes and `sessions
import` (bundle_import.py) reads.

A bundle is `{"format": FORMAT, "version": VERSION, "exported_at", "sessions": [entry]}`;
an entry is `{"session": <record>, "transcript": null | {"backend", "files": [file]}}` and a
file `{"path": <relative to the backend's store root>, "content": <text>, "encoding":
"utf-8" | "base64"}`. Import rewrites what the backend needs rewritten. A bundle written by
`export --redact` also holds `"redacted": true` (its secrets were replaced before anything was
encoded); import accepts a bundle with or without it."""

from __future__ import annotations

FORMAT = "clinvk-export"
VERSION = 1
REDACTED = "redacted"  # top-level key: true when the secrets were replaced

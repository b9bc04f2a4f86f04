"""Secrets replaced with `[REDACTED:<kind>]` (`sessions export --redact`): in plain text, in
JSON text (strings escaped at any depth keep their escapes whole), in JSON/JSONL documents
(each string value redacted, the document stays valid) and in raw bytes.

Kinds (stable names): anthropic-key (`sk-ant-…`), openai-key (`sk-…`, `sk-proj-…`),
google-key (`AIza…`), github-token (`ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_…`, `github_pat_…`),
slack-token (`xox?-…`), aws-key (`AKIA…`/`ASIA…`), jwt (`eyJ….eyJ….…`), private-key
(`-----BEGIN … PRIVATE KEY-----` blocks, also with `\\n` escapes or cut short), url-password
(`scheme://user:PASSWORD@host`) and secret-value: the value of a `KEY=VALUE`, `KEY: value`
or `"KEY": "value"` pair whose KEY names a secret (see `names_secret`). Best effort: a
secret with no recognisable shape and no telling key name is left as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

MARK = "[REDACTED:{}]"

# Before a token: not a token character, or a JSON escape such as `\n` or `\u001f` (JSON text).
_START = r"(?:(?<=\\[nrtbf])|(?<=\\u[0-9a-fA-F]{4})|(?<![A-Za-z0-9_\-]))"
_END = r"(?![A-Za-z0-9_\-])"

# (kind, literal texts one of which the token holds, pattern): the literals are a cheap test
_TOKENS: list[tuple[str, tuple[str, ...], re.Pattern[str]]] = [
    (kind, literals, re.compile(_START + body + _END)) for kind, literals, body in (
        ("anthropic-key", ("sk-ant-",), r"sk-ant-[A-Za-z0-9_\-]{8,}"),
        ("openai-key", ("sk-",), r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
        ("google-key", ("AIza",), r"AIza[0-9A-Za-z_\-]{35}"),
        ("github-token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
         r"(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})"),
        ("slack-token", ("xox",), r"xox[a-z]-[A-Za-z0-9\-]{10,}"),
        ("aws-key", ("AKIA", "ASIA"), r"(?:AKIA|ASIA)[A-Z0-9]{16}"),
        ("jwt", ("eyJ",), r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    )
]

_PEM_BEGIN = r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----"
# A whole block: never across an unescaped `"` (so never out of a JSON string) nor another `-----`.
_PEM_BLOCK = re.compile(_PEM_BEGIN + r'(?:[^"\\\-]|-(?!----)|\\.){0,20000}'
                        r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY-----")
# A block cut short (a clipped prompt): its base64 body, its header lines and escaped newlines.
_PEM_CUT = re.compile(_PEM_BEGIN + r"(?:[A-Za-z0-9+/=\s:,\-]|\\+[nrt]){0,20000}")

_URL_PASSWORD = re.compile(r"(?<=://)(?P<user>[^\s/:@\"'\\]{1,200}):(?P<pw>[^\s/@\"'\\]{1,500})(?=@)")

# A KEY=VALUE pair is looked for only in a text holding one of these (lower case).
_KEY_WORDS = ("pass", "pwd", "secret", "token", "auth", "key", "credential", "cookie")

# KEY (maybe quoted, the quote maybe JSON-escaped), `=`, `:` or `:=`, then a quoted or bare value.
_PAIR = re.compile(
    _START.replace(r"_\-", r"_.\\\-")
    + r"""(?P<kq>(?:\\*["'])?)"""
    r"(?P<key>[A-Za-z0-9_.\-]{1,80})"  # names_secret decides
    r"(?P=kq)(?P<sep>[ \t]*(?::=|=|:)[ \t]*)"
    r"(?P<scheme>(?i:bearer|basic|token|digest)[ \t]+)?"
    r"""(?:(?P<vq>\\*["'`])(?P<qval>(?:\\.|[^\\\n"]){1,2000}?)(?P=vq)"""
    r"""|(?P<bare>[^\s"'`\\,;&=$%{(\[][^\s"'`\\,;&]{0,2000}))"""
)

# Key names: a part (camelCase, `_`, `-`, `.` split) or, run together, a word of these.
_SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "credential", "apikey",
                 "accesskey", "privatekey", "secretkey", "signingkey", "encryptionkey",
                 "masterkey", "authtoken", "accesstoken", "refreshtoken", "sessiontoken",
                 "idtoken", "bearertoken", "clientsecret")
_SECRET_PARTS = frozenset(("token", "auth", "authorization", "pwd", "pass", "pat", "cookie",
                           "credentials", "secrets", "apikeys"))
# ...unless its last part says it is about the secret, not the secret itself.
_NOT_SECRET_LAST = frozenset((
    "count", "counts", "type", "types", "usage", "limit", "limits", "max", "min", "length",
    "len", "size", "url", "uri", "endpoint", "path", "file", "files", "dir", "name", "names",
    "method", "mode", "provider", "enabled", "required", "expiry", "expires", "expiration",
    "at", "in", "ttl", "header", "env", "var", "source", "kind", "format", "help", "hint",
    "label", "prompt", "policy", "scope", "scopes", "status", "error", "field", "helper",
    "manager", "store", "budget", "estimate", "ratio", "cost", "price", "rate",
))
_NOT_VALUES = frozenset(("null", "none", "true", "false", "undefined", "str", "string",
                         "bytes", "int", "bool", "optional", "nil"))
_SCHEMES = frozenset(("bearer", "basic", "token", "digest"))
_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def names_secret(key: str) -> bool:
    """Whether a KEY of a KEY=VALUE pair (or a JSON object's key) names a secret."""
    parts = [p.lower() for p in _PARTS.findall(key)]
    if not parts or parts[-1] in _NOT_SECRET_LAST:
        return False
    joined = "".join(parts)
    return any(w in joined for w in _SECRET_WORDS) or any(p in _SECRET_PARTS for p in parts)


def _mark(kind: str) -> str:
    return MARK.format(kind)


def _is_value(value: str) -> bool:
    return bool(value) and not value.startswith("[REDACTED") and value.lower() not in _NOT_VALUES


_CODE = re.compile(r"[A-Za-z_][\w.]*[(\[]")  # `get_token()`, `os.environ[`: code, not a value
_JSON_GAP = frozenset(" \t,:}]")
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}


def _bare_end(value: str) -> int:
    """Where a bare value ends: without a trailing `.` or a closing bracket it did not open."""
    end = len(value)
    while end and (value[end - 1] == "." or (value[end - 1] in _CLOSERS and value.count(
            value[end - 1], 0, end) > value.count(_CLOSERS[value[end - 1]], 0, end))):
        end -= 1
    return end


def _pair(match: re.Match[str]) -> str | None:
    """The pair with its value redacted, or None when it is no secret."""
    if not names_secret(match["key"]):
        return None
    head = match[0][: match.start("vq" if match["vq"] is not None else "bare") - match.start()]
    if match["vq"] is not None:
        # in JSON text a bare `"` then `,`, `:`, `}`... closes one string and opens the next
        if not _is_value(match["qval"]) or (match["vq"] == '"' and match["qval"][0] in _JSON_GAP):
            return None
        return f"{head}{match['vq']}{_mark('secret-value')}{match['vq']}"
    value = match["bare"]
    end = _bare_end(value)
    if not _is_value(value[:end]) or _CODE.match(value) or (
            not match["scheme"] and value.lower() in _SCHEMES):
        return None
    return head + _mark("secret-value") + value[end:]


def _redact_pairs(text: str) -> str:
    """Every secret pair's value replaced; after a pair that is not one, the search goes on
    right after its key (its value may hold a pair: `"note": "password=…"`)."""
    parts, pos, done = [], 0, 0
    while (match := _PAIR.search(text, pos)) is not None:
        new = _pair(match)
        if new is None:
            pos = match.end("key")
            continue
        parts += [text[done:match.start()], new]
        done = pos = match.end()
    return "".join(parts) + text[done:] if parts else text


def _pem(match: re.Match[str]) -> str:
    return _mark("private-key")


def redact_text(text: str) -> str:
    """`text` with every secret replaced; idempotent. Inside JSON text the replacement needs
    no escaping and only whole escape sequences are removed, so the JSON stays valid."""
    if not text:
        return text
    if "PRIVATE KEY-----" in text:
        text = _PEM_BLOCK.sub(_pem, text)
        text = _PEM_CUT.sub(_pem, text)
    for kind, literals, pattern in _TOKENS:
        if any(literal in text for literal in literals):
            text = pattern.sub(_mark(kind), text)
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m['user']}:{_mark('url-password')}", text)
    lower = text.lower()
    if not any(word in lower for word in _KEY_WORDS):
        return text
    for _ in range(32):  # pairs glued by their quotes (`"k": "v"k": "w"`): one more pass sees
        done = _redact_pairs(text)  # the pair the first match's closing quote hid
        if done == text:
            break
        text = done
    return text


def redact_value(value: Any, key: str | None = None) -> Any:
    """A JSON value with every string redacted; a string under a key that names a secret
    is replaced whole. Keys themselves are redacted as text."""
    if isinstance(value, str):
        if key is not None and names_secret(key) and _is_value(value):
            return _mark("secret-value")
        return redact_text(value)
    if isinstance(value, dict):
        out = {redact_text(k) if isinstance(k, str) else k: redact_value(v, k)
               for k, v in value.items()}
        return _unsigned(out) if out != value and _is_signed_thinking(value) else out
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


def _is_signed_thinking(block: dict[str, Any]) -> bool:
    return block.get("type") == "thinking" and "signature" in block


def _unsigned(block: dict[str, Any]) -> dict[str, Any]:
    """A claude thinking block whose text was redacted no longer matches its signature, which
    the API checks when the history is sent again: it becomes a plain text block."""
    return {"type": "text", "text": str(block.get("thinking") or "")}


def _redact_json_line(line: str) -> str:
    """One line of a JSONL file (or a whole JSON document): parsed, redacted, written back
    compactly when something changed; a line that is not JSON is redacted as text."""
    stripped = line.strip()
    if not stripped or stripped[0] not in "{[":
        return redact_text(line)
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):
        return redact_text(line)
    redacted = redact_value(value)
    if redacted == value:
        return line
    compact = "\n" not in stripped
    options: dict[str, Any] = {"separators": (",", ":")} if compact else {"indent": 2}
    text = json.dumps(redacted, ensure_ascii=False, **options)
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate (a `\ud83d` escape): written escaped again
        text = json.dumps(redacted, ensure_ascii=True, **options)
    return line[: len(line) - len(line.lstrip())] + text + line[len(line.rstrip()):]


def redact_document(text: str) -> str:
    """A JSON or JSONL document (else plain text), redacted and still parseable."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(stripped)
        except (ValueError, RecursionError):
            pass
        else:
            return _redact_json_line(text)
    return "".join(_redact_json_line(line) for line in text.splitlines(keepends=True))


def redact_bytes(data: bytes) -> bytes:
    """A file's bytes redacted as a document; bytes that are not UTF-8 are kept as they are
    around the text (surrogateescape), so a binary-ish file round-trips."""
    text = data.decode("utf-8", "surrogateescape")
    return redact_document(text).encode("utf-8", "surrogateescape")


# Fields of a session record that import and resume need as they are.
_RECORD_KEEP = frozenset(("schema_version", "id", "backend", "backend_session_id", "model",
                          "working_dir", "status", "created_at", "last_used", "parent_id",
                          "origin", "cost_source", "archive", "turn_count", "token_usage",
                          "cost_usd"))


def redact_record(record: dict[str, Any], clip: Callable[[str, str], str] | None = None) -> dict[str, Any]:
    """A copy of a session record with its title, prompts, error, tags, metadata (and any
    other free text) redacted; `clip(field, text)` may shorten a redacted text again."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key in _RECORD_KEEP:
            out[key] = value
        elif key == "turns" and isinstance(value, list):
            out[key] = [_redact_turn(turn, clip) for turn in value]
        else:
            out[key] = redact_value(value)
            if clip is not None and isinstance(out[key], str) and out[key] != value:
                out[key] = clip(key, out[key])
    return out


def _redact_turn(turn: Any, clip: Callable[[str, str], str] | None) -> Any:
    if not isinstance(turn, dict):
        return turn
    out = {k: v if k in ("usage", "at", "duration_ms", "exit_code") else redact_value(v)
           for k, v in turn.items()}
    if clip is not None and isinstance(out.get("prompt"), str) and out["prompt"] != turn.get("prompt"):
        out["prompt"] = clip("prompt", out["prompt"])
    return out

"""A stand-in for the Anthropic, OpenAI (Responses) and Gemini APIs, on 127.0.0.1.

Standard library only.  The real ``claude``, ``codex`` and ``gemini`` CLIs are
pointed at it (see ``tests/realcli.py``) so that tests run without network or
account.  Every request is recorded together with the usage the stand-in
"billed" for it, in clinvk's normalised shape, so tests can compare what a CLI
reports with what the API really charged.

Replies are deterministic and reveal what the stand-in received::

    MOCK CLAUDE REPLY to 3 messages. MARK:abc
    MOCK CODEX REPLY to 2 user messages. MARK:abc
    MOCK GEMINI REPLY to 3 contents. MARK:abc

``N`` counts the conversation items of the request (Anthropic ``messages``,
Responses ``input`` items with role ``user``, Gemini ``contents``).  The
``MARK:...`` token is echoed when the *last* user message contains one.

Usage per request (deterministic, grows with the request body size ``B`` in
bytes, so each turn of a conversation bills something different):

=========  ==================================================================
anthropic  input_tokens = 100 + B//100 (uncached part), cache_read = 40,
           cache_creation = 20, output_tokens = 7 (+2 if a MARK is echoed)
openai     input_tokens = 200 + B//100 (incl. cached), cached_tokens = 50,
           output_tokens = 9 (+2 with MARK, incl. reasoning), reasoning = 3
gemini     promptTokenCount = 300 + B//100 (incl. cached), cached = 60,
           candidates = 11 (+2 with MARK), thoughts = 4;
           router/utility (non-streaming JSON) calls: prompt = 30 + B//1000,
           candidates = 5, no cache, no thoughts
=========  ==================================================================

The normalised ``billed`` record of each request has ``input_tokens`` (all
prompt tokens including cache reads and cache writes), ``cached_input_tokens``,
``cache_creation_input_tokens``, ``output_tokens`` (including reasoning /
thoughts), ``reasoning_tokens`` and ``total_tokens`` (input + output).

Fault injection::

    s.fail_next("anthropic", status=400, count=1)   # next request(s) fail
    s.set_fail("gemini", 404)                        # every request fails
    s.set_fail("openai", None)                       # stop failing
    s.fail_next("openai", status=200, kind="stream") # error *inside* the SSE stream
    s.set_delay(30)                                  # slow replies (timeouts)

Errors are shaped like each API's own error bodies.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

APIS = ("anthropic", "openai", "gemini")

#: a user message containing this word makes the stand-in answer with one tool call
#: first (claude: Read, codex: exec_command, gemini: list_directory); the request
#: carrying the tool result gets the normal text reply ("... after tool ...").
TOOL_MARKER = "TOOLTURN"

MARK_RE = re.compile(r"MARK:[A-Za-z0-9_.\-]+")

_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("insufficient_quota", "insufficient_quota"),
    500: ("server_error", None),
}
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _usage(
    input_tokens: int, cached: int, cache_creation: int, output: int, reasoning: int
) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "cached_input_tokens": cached,
        "cache_creation_input_tokens": cache_creation,
        "output_tokens": output,
        "reasoning_tokens": reasoning,
        "total_tokens": input_tokens + output,
    }


USAGE_KEYS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
)


def sum_usage(records: list[dict[str, int]]) -> dict[str, int]:
    """Sum normalised usage dicts key by key."""
    out = dict.fromkeys(USAGE_KEYS, 0)
    for r in records:
        for k in USAGE_KEYS:
            out[k] += int(r.get(k, 0) or 0)
    return out


# --------------------------------------------------------------------------- text extraction


def _texts_of_content(content: Any) -> list[str]:
    """Flatten Anthropic / OpenAI / Gemini content into a list of strings."""
    out: list[str] = []
    if content is None:
        return out
    if isinstance(content, str):
        return [content]
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        for block in content:
            if isinstance(block, str):
                out.append(block)
            elif isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    out.append(block["text"])
                elif "content" in block:  # anthropic tool_result
                    out.extend(_texts_of_content(block["content"]))
    return out


def _last_mark(texts: list[str]) -> str | None:
    for t in reversed(texts):
        m = MARK_RE.findall(t)
        if m:
            return m[-1]
    return None


# --------------------------------------------------------------------------- the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server  # type: ignore[assignment]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.standin.verbose:
            sys.stderr.write("standin: " + (format % args) + "\n")

    # ---- plumbing
    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            return self.rfile.read(n)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _sse(self, data: Any, event: str | None = None) -> None:
        chunk = ""
        if event:
            chunk += f"event: {event}\n"
        chunk += "data: " + json.dumps(data) + "\n\n"
        self.wfile.write(chunk.encode())
        self.wfile.flush()

    # ---- dispatch
    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        raw = self._read_body()
        path = urlsplit(self.path).path
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode("utf-8", "replace")}
        standin = self.server.standin
        api = route = None
        model = None
        if method == "POST" and path.endswith("/v1/messages"):
            api, route = "anthropic", "messages"
        elif method == "POST" and path.endswith("/v1/messages/count_tokens"):
            api, route = "anthropic", "count_tokens"
        elif method == "POST" and path.endswith("/responses"):
            api, route = "openai", "responses"
        elif "/models/" in path and ":" in path.rsplit("/", 1)[-1]:
            api = "gemini"
            model_part, _, route = path.rsplit("/", 1)[-1].partition(":")
            model = model_part
        elif method == "GET" and path.rstrip("/").endswith("/models"):
            route = "models"
        if api is None:
            standin._log_other(method, self.path, body)
            if route == "models":
                if "v1beta" in path:
                    self._send_json(200, {"models": []})
                else:
                    self._send_json(
                        200,
                        {
                            "object": "list",
                            "data": [],
                            "models": [],
                            "has_more": False,
                        },
                    )
            else:
                self._send_json(200, {})
            return
        if model is None and isinstance(body, dict):
            model = body.get("model")

        delay = standin._delay
        if delay:
            end = time.monotonic() + delay
            while time.monotonic() < end and not standin._stopping.is_set():
                time.sleep(0.05)

        fault = standin._take_fault(api) if route not in ("count_tokens",) else None
        if fault is not None and fault["kind"] == "http":
            standin._record(api, self.path, model, body, raw, None, fault=fault)
            self._send_error(api, fault["status"], fault["message"])
            return
        stream_fault = fault if fault is not None else None

        if api == "anthropic":
            if route == "count_tokens":
                standin._log_other(method, self.path, body)
                self._send_json(200, {"input_tokens": 100 + len(raw) // 100})
                return
            self._anthropic(body, raw, stream_fault)
        elif api == "openai":
            self._openai(body, raw, stream_fault)
        else:
            if route == "countTokens":
                standin._log_other(method, self.path, body)
                self._send_json(200, {"totalTokens": 100 + len(raw) // 100})
                return
            self._gemini(model or "", route or "", body, raw, stream_fault)

    # ---- errors in each API's format
    def _send_error(self, api: str, status: int, message: str) -> None:
        if api == "anthropic":
            etype = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
            self._send_json(
                status,
                {
                    "type": "error",
                    "error": {"type": etype, "message": message},
                    "request_id": "req_mock_" + uuid.uuid4().hex[:20],
                },
                {"request-id": "req_mock"},
            )
        elif api == "openai":
            etype, code = _OPENAI_ERROR_TYPES.get(status, ("server_error", None))
            self._send_json(
                status,
                {"error": {"message": message, "type": etype, "param": None, "code": code}},
            )
        else:
            self._send_json(
                status,
                {
                    "error": {
                        "code": status,
                        "message": message,
                        "status": _GEMINI_STATUS.get(status, "UNKNOWN"),
                    }
                },
            )

    # ---- Anthropic Messages
    def _anthropic(self, body: dict, raw: bytes, fault: dict | None) -> None:
        standin = self.server.standin
        messages = body.get("messages") or []
        user_texts: list[str] = []
        turn_texts: list[str] = []  # user texts since the last final assistant answer
        tool_done = False
        for m in messages:
            content = m.get("content")
            blocks = content if isinstance(content, list) else []
            if m.get("role") == "user":
                t = _texts_of_content(content)
                user_texts.extend(t)
                turn_texts.extend(t)
                if any(isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks):
                    tool_done = True
            elif m.get("role") == "assistant" and not any(
                isinstance(b, dict) and b.get("type") == "tool_use" for b in blocks
            ):
                turn_texts, tool_done = [], False
        mark = _last_mark(turn_texts)
        want_tool = not tool_done and any(TOOL_MARKER in t for t in turn_texts)
        text = f"MOCK CLAUDE REPLY to {len(messages)} messages."
        if tool_done:
            text = f"MOCK CLAUDE REPLY after tool to {len(messages)} messages."
        if mark:
            text += " " + mark
        inp = 100 + len(raw) // 100
        cache_read, cache_write = 40, 20
        out = 7 + (2 if mark else 0)
        billed = _usage(inp + cache_read + cache_write, cache_read, cache_write, out, 0)
        model = body.get("model") or "claude-mock"
        standin._record("anthropic", self.path, model, body, raw, billed, user_texts=user_texts)
        msg_id = "msg_" + uuid.uuid4().hex[:20]
        usage_start = {
            "input_tokens": inp,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
            "output_tokens": 1,
        }
        if not body.get("stream"):
            self._send_json(
                200,
                {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": dict(usage_start, output_tokens=out),
                },
            )
            return
        self._start_sse()
        self._sse(
            {
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage_start,
                },
            },
            "message_start",
        )
        if fault is not None:
            etype = _ANTHROPIC_ERROR_TYPES.get(fault["status"], "overloaded_error")
            if fault["status"] == 200:
                etype = "overloaded_error"
            self._sse({"type": "error", "error": {"type": etype, "message": fault["message"]}}, "error")
            return
        if want_tool:
            path = "/etc/hostname"
            sys_txt = json.dumps(body.get("system")) + json.dumps(messages)
            m_cwd = re.search(r"Primary working directory: ([^\\\n\"]+)", sys_txt)
            if m_cwd:
                path = m_cwd.group(1).strip() + "/standin-tool.txt"
            tool_id = "toolu_" + uuid.uuid4().hex[:20]
            self._sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "tool_use", "id": tool_id, "name": "Read", "input": {}},
                },
                "content_block_start",
            )
            self._sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps({"file_path": path})},
                },
                "content_block_delta",
            )
            self._sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
            self._sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                    "usage": {"output_tokens": out},
                },
                "message_delta",
            )
            self._sse({"type": "message_stop"}, "message_stop")
            return
        self._sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        )
        self._sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
            "content_block_delta",
        )
        self._sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        self._sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": out},
            },
            "message_delta",
        )
        self._sse({"type": "message_stop"}, "message_stop")

    # ---- OpenAI Responses
    def _openai(self, body: dict, raw: bytes, fault: dict | None) -> None:
        standin = self.server.standin
        items = body.get("input") or []
        if isinstance(items, str):
            items = [{"type": "message", "role": "user", "content": items}]
        user_texts: list[str] = []
        turn_texts: list[str] = []
        tool_done = False
        n_user = 0
        for it in items:
            if not isinstance(it, dict):
                continue
            if it.get("role") == "user":
                n_user += 1
                t = _texts_of_content(it.get("content"))
                user_texts.extend(t)
                turn_texts.extend(t)
            elif it.get("role") == "assistant":
                turn_texts, tool_done = [], False
            elif it.get("type") in ("function_call_output", "custom_tool_call_output"):
                tool_done = True
        mark = _last_mark(turn_texts)
        want_tool = not tool_done and any(TOOL_MARKER in t for t in turn_texts)
        text = f"MOCK CODEX REPLY to {n_user} user messages."
        if tool_done:
            text = f"MOCK CODEX REPLY after tool to {n_user} user messages."
        if mark:
            text += " " + mark
        inp = 200 + len(raw) // 100
        cached, reasoning = 50, 3
        out = 9 + (2 if mark else 0)
        billed = _usage(inp, cached, 0, out, reasoning)
        model = body.get("model") or "gpt-mock"
        standin._record("openai", self.path, model, body, raw, billed, user_texts=user_texts)
        resp_id = "resp_" + uuid.uuid4().hex[:20]
        item_id = "msg_" + uuid.uuid4().hex[:20]
        created = int(time.time())
        base = {
            "id": resp_id,
            "object": "response",
            "created_at": created,
            "model": model,
            "status": "in_progress",
            "output": [],
        }
        if not body.get("stream", False):
            item = {
                "type": "message",
                "id": item_id,
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
            self._send_json(
                200,
                dict(
                    base,
                    status="completed",
                    output=[item],
                    usage=self._openai_usage(inp, cached, out, reasoning),
                ),
            )
            return
        self._start_sse()
        seq = iter(range(1000))
        self._sse(
            {"type": "response.created", "sequence_number": next(seq), "response": base}, "response.created"
        )
        if fault is not None:
            code = {429: "rate_limit_exceeded", 400: "invalid_prompt"}.get(fault["status"], "server_error")
            failed = dict(
                base,
                status="failed",
                error={"code": code, "message": fault["message"]},
            )
            self._sse(
                {"type": "response.failed", "sequence_number": next(seq), "response": failed},
                "response.failed",
            )
            return
        if want_tool:
            call = {
                "type": "function_call",
                "id": "fc_" + uuid.uuid4().hex[:20],
                "call_id": "call_" + uuid.uuid4().hex[:20],
                "name": "exec_command",
                "arguments": json.dumps({"cmd": "echo standin-tool"}),
                "status": "completed",
            }
            self._sse(
                {
                    "type": "response.output_item.added",
                    "sequence_number": next(seq),
                    "output_index": 0,
                    "item": dict(call, arguments="", status="in_progress"),
                },
                "response.output_item.added",
            )
            self._sse(
                {
                    "type": "response.output_item.done",
                    "sequence_number": next(seq),
                    "output_index": 0,
                    "item": call,
                },
                "response.output_item.done",
            )
            self._sse(
                {
                    "type": "response.completed",
                    "sequence_number": next(seq),
                    "response": dict(
                        base,
                        status="completed",
                        output=[call],
                        usage=self._openai_usage(inp, cached, out, reasoning),
                    ),
                },
                "response.completed",
            )
            return
        self._sse(
            {
                "type": "response.output_item.added",
                "sequence_number": next(seq),
                "output_index": 0,
                "item": {
                    "type": "message",
                    "id": item_id,
                    "status": "in_progress",
                    "role": "assistant",
                    "content": [],
                },
            },
            "response.output_item.added",
        )
        self._sse(
            {
                "type": "response.content_part.added",
                "sequence_number": next(seq),
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": []},
            },
            "response.content_part.added",
        )
        self._sse(
            {
                "type": "response.output_text.delta",
                "sequence_number": next(seq),
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": text,
            },
            "response.output_text.delta",
        )
        self._sse(
            {
                "type": "response.output_text.done",
                "sequence_number": next(seq),
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "text": text,
            },
            "response.output_text.done",
        )
        item = {
            "type": "message",
            "id": item_id,
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        self._sse(
            {
                "type": "response.output_item.done",
                "sequence_number": next(seq),
                "output_index": 0,
                "item": item,
            },
            "response.output_item.done",
        )
        self._sse(
            {
                "type": "response.completed",
                "sequence_number": next(seq),
                "response": dict(
                    base,
                    status="completed",
                    output=[item],
                    usage=self._openai_usage(inp, cached, out, reasoning),
                ),
            },
            "response.completed",
        )

    @staticmethod
    def _openai_usage(inp: int, cached: int, out: int, reasoning: int) -> dict:
        return {
            "input_tokens": inp,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": inp + out,
        }

    # ---- Gemini
    def _gemini(self, model: str, method: str, body: dict, raw: bytes, fault: dict | None) -> None:
        standin = self.server.standin
        contents = body.get("contents") or []
        user_texts: list[str] = []
        turn_texts: list[str] = []
        tool_done = False
        for c in contents:
            if not isinstance(c, dict):
                continue
            parts = [p for p in c.get("parts") or [] if isinstance(p, dict)]
            if c.get("role", "user") == "user":
                t = [p["text"] for p in parts if isinstance(p.get("text"), str)]
                user_texts.extend(t)
                turn_texts.extend(t)
                if any("functionResponse" in p for p in parts):
                    tool_done = True
            elif not any("functionCall" in p for p in parts):
                turn_texts, tool_done = [], False
        want_tool = not tool_done and any(TOOL_MARKER in t for t in turn_texts)
        gen_cfg = body.get("generationConfig") or {}
        wants_json = (gen_cfg.get("responseMimeType") == "application/json") or bool(
            gen_cfg.get("responseJsonSchema") or gen_cfg.get("responseSchema")
        )
        sys_text = " ".join(_texts_of_content((body.get("systemInstruction") or {}).get("parts")))
        streaming = method == "streamGenerateContent"
        if not streaming and (wants_json or "complexity" in sys_text.lower()):
            # utility call (model router, next-speaker check, ...): JSON answer
            schema = gen_cfg.get("responseJsonSchema") or gen_cfg.get("responseSchema") or {}
            if "complexity" in sys_text.lower() or "complexity_score" in json.dumps(schema):
                obj: Any = {"complexity_reasoning": "mock: simple request", "complexity_score": 5}
            else:
                obj = _fill_schema(schema) if schema else {}
            text = json.dumps(obj)
            prompt, cached, cand, thoughts = 30 + len(raw) // 1000, 0, 5, 0
            kind = "utility"
        else:
            mark = _last_mark(turn_texts)
            text = f"MOCK GEMINI REPLY to {len(contents)} contents."
            if tool_done:
                text = f"MOCK GEMINI REPLY after tool to {len(contents)} contents."
            if mark:
                text += " " + mark
            prompt, cached, cand, thoughts = 300 + len(raw) // 100, 60, 11 + (2 if mark else 0), 4
            kind = "main"
        billed = _usage(prompt, cached, 0, cand + thoughts, thoughts)
        standin._record("gemini", self.path, model, body, raw, billed, user_texts=user_texts, kind=kind)
        usage_md: dict[str, Any] = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": cand,
            "totalTokenCount": prompt + cand + thoughts,
        }
        if cached:
            usage_md["cachedContentTokenCount"] = cached
        if thoughts:
            usage_md["thoughtsTokenCount"] = thoughts
        part: dict[str, Any] = {"text": text}
        if kind == "main" and want_tool:
            part = {"functionCall": {"name": "list_directory", "args": {"dir_path": "."}}}
        chunk = {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [part]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": usage_md,
            "modelVersion": model,
            "responseId": "mock-" + uuid.uuid4().hex[:12],
        }
        if not streaming:
            self._send_json(200, chunk)
            return
        self._start_sse()
        if fault is not None:
            status = fault["status"] if fault["status"] >= 400 else 500
            self.wfile.write(
                (
                    "data: "
                    + json.dumps(
                        {
                            "error": {
                                "code": status,
                                "message": fault["message"],
                                "status": _GEMINI_STATUS.get(status, "UNKNOWN"),
                            }
                        }
                    )
                    + "\n\n"
                ).encode()
            )
            self.wfile.flush()
            return
        self.wfile.write(("data: " + json.dumps(chunk) + "\r\n\r\n").encode())
        self.wfile.flush()


def _fill_schema(schema: dict) -> Any:
    t = schema.get("type")
    if isinstance(t, str):
        t = t.lower()
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if t == "object" or "properties" in schema:
        return {k: _fill_schema(v) for k, v in (schema.get("properties") or {}).items()}
    if t == "array":
        return []
    if t in ("number", "integer"):
        return 1
    if t == "boolean":
        return False
    return "mock"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    standin: StandIn


class StandIn:
    """The stand-in API server.  Use as a context manager or call start()/stop()."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.requests: list[dict[str, Any]] = []
        self.other_requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._faults: dict[str, list[dict[str, Any]]] = {a: [] for a in APIS}
        self._persistent: dict[str, dict[str, Any] | None] = dict.fromkeys(APIS)
        self._delay = 0.0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle
    def start(self) -> StandIn:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "StandIn not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- faults and delay
    def fail_next(
        self,
        api: str,
        status: int = 500,
        message: str | None = None,
        count: int = 1,
        kind: str = "http",
    ) -> None:
        """Make the next ``count`` requests to ``api`` fail.

        ``kind="http"``: an HTTP error response with status ``status`` and the API's
        error body.  ``kind="stream"``: HTTP 200 and an error event inside the SSE
        stream (anthropic ``error`` event, openai ``response.failed``, gemini
        ``data: {"error": ...}``).
        """
        assert api in APIS, api
        f = self._fault(status, message, kind)
        with self._lock:
            self._faults[api].extend(dict(f) for _ in range(count))

    def set_fail(self, api: str, status: int | None, message: str | None = None, kind: str = "http") -> None:
        """Make every request to ``api`` fail (``status=None`` clears it)."""
        assert api in APIS, api
        with self._lock:
            self._persistent[api] = None if status is None else self._fault(status, message, kind)

    def clear_faults(self) -> None:
        with self._lock:
            for a in APIS:
                self._faults[a].clear()
                self._persistent[a] = None
            self._delay = 0.0

    def set_delay(self, seconds: float) -> None:
        """Sleep ``seconds`` before answering each API request (0 disables)."""
        self._delay = float(seconds)

    @staticmethod
    def _fault(status: int, message: str | None, kind: str) -> dict[str, Any]:
        assert kind in ("http", "stream"), kind
        return {
            "status": int(status),
            "message": message or f"mock error {status}",
            "kind": kind,
        }

    def _take_fault(self, api: str) -> dict[str, Any] | None:
        with self._lock:
            if self._faults[api]:
                return self._faults[api].pop(0)
            p = self._persistent[api]
            return dict(p) if p else None

    # ---- recording
    def _record(
        self,
        api: str,
        path: str,
        model: str | None,
        body: Any,
        raw: bytes,
        billed: dict[str, int] | None,
        user_texts: list[str] | None = None,
        fault: dict | None = None,
        kind: str = "main",
    ) -> None:
        if user_texts is None:
            user_texts = _extract_user_texts(api, body)
        rec = {
            "api": api,
            "path": path,
            "model": model,
            "body": body,
            "body_size": len(raw),
            "user_texts": user_texts,
            "billed": billed or dict.fromkeys(USAGE_KEYS, 0),
            "error": fault,
            "kind": kind,
            "time": time.time(),
        }
        with self._lock:
            self.requests.append(rec)

    def _log_other(self, method: str, path: str, body: Any) -> None:
        with self._lock:
            self.other_requests.append({"method": method, "path": path, "body": body})
        if self.verbose:
            sys.stderr.write(f"standin: other request {method} {path}\n")

    def requests_for(self, api: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["api"] == api]

    def billed_total(self, api: str, since: int = 0) -> dict[str, int]:
        """Sum of billed usage of ``api`` requests, from index ``since`` of ``requests``."""
        with self._lock:
            recs = [r["billed"] for r in self.requests[since:] if r["api"] == api]
        return sum_usage(recs)

    def mark(self) -> int:
        """An index into ``requests`` to pass as ``since`` (requests after this point)."""
        with self._lock:
            return len(self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.other_requests.clear()


def _extract_user_texts(api: str, body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    out: list[str] = []
    if api == "anthropic":
        for m in body.get("messages") or []:
            if m.get("role") == "user":
                out.extend(_texts_of_content(m.get("content")))
    elif api == "openai":
        for it in body.get("input") or []:
            if isinstance(it, dict) and it.get("role") == "user":
                out.extend(_texts_of_content(it.get("content")))
    else:
        for c in body.get("contents") or []:
            if isinstance(c, dict) and c.get("role", "user") == "user":
                out.extend(_texts_of_content(c.get("parts")))
    return out


if __name__ == "__main__":  # manual use: python tests/standin.py
    with StandIn(verbose=True) as s:
        print(s.url, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass

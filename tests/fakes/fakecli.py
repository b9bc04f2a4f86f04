#!/usr/bin/env python3
"""A fake backend speaking claude's stream-json, for faults the real CLIs cannot produce on cue.

FAKE_MODE selects the behaviour: ok, crash, hang, garbage, huge, exit, sigint, ignore-sigint,
slow, big-usage (usage and cost beyond any record's bounds), surrogate-error (an error result
whose text holds a lone surrogate, as a JSON escape). FAKE_SESSION_ID fixes the session id;
FAKE_EXIT the exit code for `exit`;
FAKE_MB the size for `huge`; FAKE_LOG a file where argv, cwd and a piped stdin are appended as JSON;
FAKE_APPEND_AFTER_RESULT a file to which `ok` appends a line 0.3 s after its result line, before
it exits (as claude adds its cost-state line to the transcript).
"""

import json
import os
import signal
import sys
import time
import uuid

MODE = os.environ.get("FAKE_MODE", "ok")
SID = os.environ.get("FAKE_SESSION_ID") or str(uuid.uuid4())
USAGE = {"input_tokens": 10, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 2,
         "output_tokens": 7}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def delta(text):
    emit({"type": "stream_event", "session_id": SID, "event": {
        "type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}})


def result(text, is_error=False, usage=USAGE):
    emit({"type": "result", "subtype": "success", "is_error": is_error, "session_id": SID,
          "result": text, "usage": usage, "total_cost_usd": 0.001, "modelUsage": {}})


def main():
    if "--version" in sys.argv:
        print("9.9.9 (fake)")
        return 0
    log = os.environ.get("FAKE_LOG")
    if log:
        with open(log, "a") as fh:
            piped = None if sys.stdin.isatty() else sys.stdin.buffer.read().decode("utf-8", "replace")
            fh.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "stdin": piped}) + "\n")
    emit({"type": "system", "subtype": "init", "session_id": SID, "model": "fake-model"})
    if MODE == "ok":
        delta("héllo ")
        delta("wörld")
        result("héllo wörld")
        late = os.environ.get("FAKE_APPEND_AFTER_RESULT")
        if late:
            time.sleep(0.3)
            with open(late, "a") as fh:
                fh.write(json.dumps({"type": "cost-state", "sessionId": SID}) + "\n")
    elif MODE == "big-usage":
        delta("costly")
        emit({"type": "result", "subtype": "success", "is_error": False, "session_id": SID,
              "result": "costly", "usage": {"input_tokens": 2 * 10**12, "output_tokens": 1},
              "total_cost_usd": 1e308, "modelUsage": {}})
    elif MODE == "surrogate-error":
        result("err \udfff x", is_error=True)
        return 1
    elif MODE == "crash":
        delta("partial answer")
        os.kill(os.getpid(), signal.SIGKILL)
    elif MODE == "hang":
        delta("thinking...")
        time.sleep(3600)
    elif MODE == "slow":
        for i in range(int(os.environ.get("FAKE_STEPS", "5"))):
            delta(f"step {i} ")
            time.sleep(0.2)
        result("done")
    elif MODE == "garbage":
        sys.stdout.write("\x1b[?25hnot json at all\n{\"broken\": \n\x00\xff plain\r\n[1,2,3]\n")
        sys.stdout.write(json.dumps({"type": "mystery", "x": 1}) + "\n")
        delta("still fine")
        result("still fine")
    elif MODE == "huge":
        chunk = ("x" * 1023 + "\n")
        total = int(float(os.environ.get("FAKE_MB", "50")) * 1024 * 1024)
        line = json.dumps({"type": "stream_event", "session_id": SID, "event": {
            "type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": chunk * 64}}}) + "\n"
        sent = 0
        out = sys.stdout
        while sent < total:
            out.write(line)
            sent += len(chunk) * 64
        out.flush()
        result("")
    elif MODE == "exit":
        print("something went wrong in the fake backend", file=sys.stderr)
        return int(os.environ.get("FAKE_EXIT", "7"))
    elif MODE in ("sigint", "ignore-sigint"):
        def on_int(_s, _f):
            if MODE == "sigint":
                result("stopped", is_error=False)
                sys.exit(130)
        signal.signal(signal.SIGINT, on_int)
        delta("working")
        for _ in range(600):
            time.sleep(0.1)
    elif MODE == "error":
        result("API Error: 500 fake failure", is_error=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A fake `codex exec --json`: one thread (FAKE_THREAD_ID), one turn with the usage of
tests/samples/codex-exec-json.jsonl; codex reports no cost and no model, and its usage is the
thread's running total: `exec resume` reports twice the figures (a second, equal turn)."""

import json
import os
import sys

N = 2 if "resume" in sys.argv else 1
if "--version" in sys.argv:
    print("codex-cli 9.9.9 (fake)")
    sys.exit(0)
for line in (
    {"type": "thread.started", "thread_id": os.environ["FAKE_THREAD_ID"]},
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "item_1", "type": "agent_message", "text": "done"}},
    {"type": "turn.completed", "usage": {"input_tokens": 204 * N, "cached_input_tokens": 50 * N,
                                         "output_tokens": 9 * N, "reasoning_output_tokens": 3 * N}},
):
    sys.stdout.write(json.dumps(line) + "\n")
sys.stdout.flush()

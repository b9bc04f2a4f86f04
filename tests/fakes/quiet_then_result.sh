#!/bin/sh
# A backend that goes quiet, then prints its final result line and exits at once: the
# last output is still in the pty when the process is already gone (issue 9, item 3).
# $1: how long to stay quiet (seconds, default 0.005).
printf '{"type":"system","subtype":"init","session_id":"s-1"}\n'
sleep "${1:-0.005}"
printf '{"type":"result","usage":{"input_tokens":1,"output_tokens":2}}\n'

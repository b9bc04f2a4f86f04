#!/bin/sh
# A fake claude (stream-json) that leaves a grandchild in its process group which ignores
# TERM, INT and HUP and keeps the pty open (issue 9, item 4b). The grandchild's pid goes
# to $FAKE_PIDFILE. FAKE_MODE=exit: the backend itself exits on TERM/INT; FAKE_MODE=hang:
# it ignores them too and must be killed.
sh -c 'trap "" TERM INT HUP; echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 600' \
    grandchild "$FAKE_PIDFILE" &
while [ ! -s "$FAKE_PIDFILE" ]; do sleep 0.01; done
if [ "$FAKE_MODE" = hang ]; then
    trap '' TERM INT HUP
else
    trap 'exit 130' TERM INT HUP
fi
printf '{"type":"system","subtype":"init","session_id":"%s","model":"fake-model"}\n' \
    "0b6e1d2a-4c5b-8e7f-6a5b-4c3d2e1f3f9c"
while :; do sleep 0.1; done

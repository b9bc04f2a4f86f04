"""Terminal control sequences carried by a bundle or typed by a user never reach the terminal
raw through clinvk's own text (list, show, search, stats, import, organise, the picker, error
and warning lines); `--json` stays exact. The one helper, clinvk.display, on its own too."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import uuid

import pytest
from conftest import FAKE_CLI, assert_clean_error
from hypothesis import given, settings
from hypothesis import strategies as st

from clinvk.display import json_text, printable, shell_line, shell_quote

OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"  # write "rm -rf ~" to the clipboard
TITLE_SET = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
CSI_C1 = "\x9b31m"
RLO = "\u202e"
HOSTILE = OSC52 + TITLE_SET + CLEAR + CSI_C1 + RLO
RAW = ("\x1b", "\x07", "\x9b", "\u202e")
SID = "0123456789abcdef0123456789abcdef"


def raw_controls(text: str) -> list[str]:
    return [c for c in RAW if c in text]


def _bundle(workdir: str) -> dict:
    backend_id = str(uuid.uuid4())
    lines = [{"type": "user", "sessionId": backend_id, "cwd": workdir,
              "message": {"role": "user", "content": "question " + HOSTILE}},
             {"type": "assistant", "sessionId": backend_id, "cwd": workdir,
              "message": {"id": "m1", "role": "assistant", "model": "claude-x",
                          "content": [{"type": "text", "text": "answer " + HOSTILE}]}}]
    enc = "".join(c if c.isalnum() else "-" for c in workdir)
    turn = {"at": "2026-11-01T10:00:00Z", "prompt": "needle " + HOSTILE, "exit_code": 0,
            "duration_ms": 1000, "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}}
    record = {"schema_version": 2, "id": SID, "backend": "claude", "backend_session_id": backend_id,
              "model": "model-x", "working_dir": workdir, "title": "needle " + HOSTILE,
              "status": "active", "error": None, "created_at": "2026-11-01T10:00:00Z",
              "last_used": "2026-11-01T10:00:00Z", "turn_count": 1, "turns": [turn],
              "tags": ["tag" + HOSTILE], "parent_id": None, "metadata": {"k" + RLO: "v" + HOSTILE}}
    files = [{"path": f"projects/{enc}/{backend_id}.jsonl",
              "content": "\n".join(json.dumps(line) for line in lines) + "\n"}]
    return {"format": "clinvk-export", "version": 1, "exported_at": "2026-11-02T00:00:00Z",
            "sessions": [{"session": record, "transcript": {"backend": "claude", "files": files}}]}


@pytest.fixture
def hostile(clinvk, tmp_path):
    clinvk.project = tmp_path / "project"
    clinvk.project.mkdir()
    clinvk.config("session:\n  auto_clean: false\n")
    clinvk.bundle = tmp_path / "b.json"
    clinvk.bundle.write_text(json.dumps(_bundle(str(clinvk.project))))
    clinvk.imported = clinvk.run("sessions", "import", str(clinvk.bundle))
    assert clinvk.imported.code == 0, clinvk.imported.err
    return clinvk


def test_import_message_escapes(hostile):
    assert not raw_controls(hostile.imported.out + hostile.imported.err), hostile.imported.out
    assert "needle \\x1b]52;c;" in hostile.imported.out


@pytest.mark.parametrize("argv", [
    ["sessions", "list"],
    ["sessions", "list", "--search", "needle"],
    ["sessions", "show", SID[:8]],
    ["sessions", "show", SID[:8], "--transcript"],
    ["sessions", "show", SID[:8], "--transcript", "--format", "markdown"],
    ["sessions", "search", "needle"],
    ["sessions", "stats"],
    ["sessions", "stats", "--by", "model"],
    ["sessions", "stats", SID[:8]],
    ["sessions", "meta", SID[:8]],
    ["sessions", "tag", SID[:8], "more"],
    ["sessions", "untag", SID[:8], "x"],
    ["sessions", "rename", SID[:8], "renamed" + HOSTILE],
    ["sessions", "meta", SID[:8], "k2", "v" + HOSTILE],
    ["sessions", "export", SID[:8], "--format", "markdown"],
    ["sessions", "delete", "--yes", SID[:8]],
])
def test_text_output_shows_control_characters_escaped(hostile, argv):
    result = hostile.run(*argv)
    assert result.code == 0, result.err
    assert not raw_controls(result.out + result.err), (result.out + result.err)[:2000]
    if argv[1] in ("list", "show", "search"):
        assert "\\x1b" in result.out and ("\\x9b" in result.out or "\\u202e" in result.out)


@pytest.mark.parametrize("argv", [
    ["sessions", "list", "--json"], ["sessions", "show", SID[:8], "--json"],
    ["sessions", "search", "needle", "--json"], ["sessions", "meta", SID[:8], "--json"],
])
def test_json_output_is_the_exact_value_and_inert(hostile, argv):
    result = hostile.run(*argv)
    assert result.code == 0, result.err
    assert not raw_controls(result.out)  # C1 and bidi written as \\u escapes too
    value = result.json()
    record = value[0] if isinstance(value, list) else value
    if "metadata" not in record:
        assert record == {"k" + RLO: "v" + HOSTILE}
    else:
        assert record["title"] == "needle " + HOSTILE
        assert record["tags"] == ["tag" + HOSTILE] and record["model"] == "model-x"


def test_export_bundle_and_json_transcript_are_exact_and_inert(hostile, tmp_path):
    transcript = hostile.run("sessions", "show", SID[:8], "--transcript", "--format", "json")
    assert transcript.code == 0 and not raw_controls(transcript.out), transcript.err
    assert "answer " + HOSTILE in [m["text"] for m in transcript.json()["messages"]]
    exported = hostile.run("sessions", "export", SID[:8])
    assert exported.code == 0 and not raw_controls(exported.out), exported.err
    [entry] = exported.json()["sessions"]
    assert entry["session"]["title"] == "needle " + HOSTILE
    original = json.loads(hostile.bundle.read_text())["sessions"][0]["transcript"]["files"][0]
    assert entry["transcript"]["files"][0]["content"] == original["content"]


def test_import_with_a_hostile_title_flag_and_errors_quoting_user_text(hostile, tmp_path):
    again = hostile.run("sessions", "import", str(hostile.bundle), "--new-id",
                        "--title", "t" + HOSTILE)
    assert again.code == 0 and not raw_controls(again.out + again.err), again.out
    for argv in (["sessions", "show", "abcd" + HOSTILE], ["-b", "x" + HOSTILE, "hi"],
                 ["sessions", "list", "--bogus" + HOSTILE], ["sessions", "list", "--since", HOSTILE],
                 ["sessions", "import", str(tmp_path / ("missing" + HOSTILE))]):
        result = hostile.run(*argv)
        assert result.code == 2, (argv, result.err)
        assert not raw_controls(result.out + result.err), (argv, result.err)
    assert_clean_error(hostile.run("sessions", "show", "abcd" + CLEAR), 2, "\\x1b[2J")


def test_the_picker_escapes_titles(hostile):
    from clinvk.env import Environment
    from clinvk.launch import run_cli

    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdin=io.StringIO("\n"), stdout=out, stderr=err, stdin_isatty=True,
                      stdout_isatty=True, cwd=str(hostile.project),
                      environ={**hostile.env, "CLINVK_HOME": str(hostile.home)})
    assert run_cli(["resume", "-i"], env) == 0
    assert "needle \\x1b]52" in err.getvalue() and not raw_controls(err.getvalue())


def test_config_show_and_dry_run_escape_too(clinvk):
    clinvk.config(f"backends:\n  claude:\n    extra_flags: [{json.dumps('--x' + CSI_C1 + RLO)}]\n")
    shown = clinvk.run("config", "show")
    assert shown.code == 0 and not raw_controls(shown.out), shown.out
    dry = clinvk.run("--dry-run", "say " + HOSTILE)
    assert dry.code == 0 and not raw_controls(dry.out) and "\\x1b]0;pwned\\x07" in dry.out


# -- the helper ------------------------------------------------------------------------------

def test_printable_examples():
    assert printable("plain text, ünïcödé, emoji 👩‍💻 and a tab\t") == \
        "plain text, ünïcödé, emoji 👩‍💻 and a tab\\t"
    assert printable(OSC52) == "\\x1b]52;c;cm0gLXJmIH4=\\x07"
    assert printable("a\nb\r\n\x9b\u202e\u2066\x7f") == "a\\nb\\r\\n\\x9b\\u202e\\u2066\\x7f"
    assert printable("a\n\tb\r\x1b", lines=True) == "a\n\tb\\r\\x1b"


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u2028\u2029"


@given(st.text())
def test_printable_leaves_no_control_character(text):
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f or c in BIDI for c in printable(text))


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=BIDI)))
def test_printable_keeps_everything_else_as_it_is(text):
    assert printable(text) == text == printable(text, lines=True)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_text_is_the_same_value(value):
    dumped = json_text(json.dumps(value, ensure_ascii=False))
    assert json.loads(dumped) == value
    assert not any(0x7f <= ord(c) <= 0x9f or c == "\u202e" for c in dumped)


# -- command lines (--dry-run, -v): inert on a terminal, exact when pasted into a shell ------

BASH = shutil.which("bash")


def test_shell_quote_examples():
    assert shell_quote("plain") == "plain" and shell_quote("it's (odd)") == "'it'\"'\"'s (odd)'"
    assert shell_quote("") == "''" and shell_quote("ünï cödé") == "'ünï cödé'"
    assert shell_quote("fix:\n- a") == "$'fix:\\n- a'"
    assert shell_quote("it's\t\\ \x1b]0;x\x07") == "$'it\\'s\\t\\\\ \\x1b]0;x\\x07'"
    assert shell_quote("op\udcffus") == "$'op\\xffus'"  # an undecodable byte: that byte
    assert shell_quote("a\x9b\u202eb") == "$'a\\xc2\\x9b\\xe2\\x80\\xaeb'"  # its UTF-8 bytes


def _shell_args(line: str, locale: str) -> bytes:
    done = subprocess.run([BASH, "-c", "printf '%s\\0' " + line], capture_output=True,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": locale}, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


ARG = st.one_of(
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))),
    st.binary().map(lambda b: b.replace(b"\0", b"").decode("utf-8", "surrogateescape")),
)


@pytest.mark.skipif(BASH is None, reason="no bash")
@settings(max_examples=150, deadline=None)
@given(st.lists(ARG, min_size=1, max_size=5))
def test_a_printed_command_line_is_inert_and_gives_bash_the_same_argv(argv):
    line = shell_line(argv)
    assert printable(line) == line  # nothing raw: no control, bidi or undecodable character
    expected = b"".join(os.fsencode(arg) + b"\0" for arg in argv)
    for locale in ("C", "C.UTF-8"):
        assert _shell_args(line, locale) == expected, line


@pytest.mark.skipif(BASH is None, reason="no bash")
def test_dry_run_prints_what_the_run_sends(clinvk, tmp_path):
    """`clinvk --dry-run` of a prompt with a line break, a tab, an escape and a quote: the
    printed line, pasted into bash, is the argv the real run hands the backend."""
    log = tmp_path / "fake.log"
    clinvk.add_fake_backend("fake", FAKE_LOG=str(log))
    words = ["fix:\n- a\t'b'", "\x1b]0;x\x07 \\n", "--", "--flag=\x9b"]
    dry = clinvk.run("--dry-run", "-b", "fake", *words)
    assert dry.code == 0, dry.err
    assert not raw_controls(dry.out) and "\n" not in dry.out.rstrip("\n")
    assert clinvk.run("-b", "fake", *words).code == 0
    [call] = [json.loads(line) for line in log.read_text().splitlines()]
    printed = _shell_args(dry.out.strip(), "C.UTF-8").split(b"\0")[:-1]
    assert [os.fsdecode(arg) for arg in printed[1:]] == call["argv"]
    assert os.fsdecode(printed[0]) == str(FAKE_CLI)


SPLIT_PAIR = r'''#!/bin/sh
s=cccccccc-2222-3333-4444-555555555555
d='{"type":"stream_event","session_id":"'$s'","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'
echo '{"type":"system","subtype":"init","session_id":"'$s'","model":"m"}'
echo "$d"'a\ud83d"}}}'
echo "$d"'\ude00b \udc00"}}}'
echo "$d"' \ud83d"}}}'
u='"usage":{"input_tokens":1,"output_tokens":1}'
echo '{"type":"result","subtype":"success","is_error":false,"session_id":"'$s'","result":"x",'"$u}"
'''


@pytest.mark.parametrize("fmt", ["text", "json", "stream-json"])
def test_a_surrogate_pair_split_over_two_deltas_is_one_character(clinvk, tmp_path, fmt):
    """An emoji's surrogate pair split over two JSON deltas is shown whole; a lone
    surrogate as U+FFFD; the turn is recorded (was an internal UnicodeEncodeError)."""
    script = tmp_path / "split.sh"
    script.write_text(SPLIT_PAIR)
    script.chmod(0o755)
    clinvk.config(f"backends:\n  split:\n    adapter: claude\n    command: {script}\n")
    done = clinvk.run_process("-b", "split", "-o", fmt, "hi")
    assert done.code == 0, done.err
    if fmt == "json":
        assert json.loads(done.out)["content"] == "a\U0001F600b \ufffd \ufffd"
    elif fmt == "stream-json":
        texts = [json.loads(line) for line in done.out.splitlines()]
        assert "".join(e["text"] for e in texts if e["type"] == "text") == "a\U0001F600b \ufffd \ufffd"
    else:
        assert done.out == "a\U0001F600b \ufffd \ufffd\n"  # a high one last: held, then shown
    assert clinvk.sessions()[0]["turn_count"] == 1

"""`sessions export --redact` (clinvk.redact): one planted secret of each kind, in plain text,
JSON strings, KEY=VALUE pairs, PEM blocks and several lines; no change to ordinary text;
end to end, no form of a planted secret (plain, JSON-escaped, base64) in the bundle's bytes,
and the bundle imports into a fresh home (and, on the real claude, resumes)."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from conftest import Clinvk
from hypothesis import given, settings
from hypothesis import strategies as st

from clinvk.redact import names_secret, redact_bytes, redact_document, redact_record, redact_text

PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4Ur0Zq9Kp7wJm2QbL1nVtY8sPdE3fGhJkLmNoPqRsTuVw\n"
       "XyZaBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789+/abcdEFGHijklMNOPqrst==\n"
       "-----END RSA PRIVATE KEY-----")
OPENSSH = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
           "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz\n"
           "c2gtZWQyNTUxOQAAACDqk8Zq9x7wKp2Lm3Nb4Vc5Xd6Ye7Zf8Ag9Bh0Ci1Dj2Ek3Q==\n"
           "-----END OPENSSH PRIVATE KEY-----")
# kind -> the secret planted (each one unique, so that finding it anywhere is a leak)
TOKENS = {
    "anthropic-key": "sk-ant-api03-Zq9x7Kp2Lm3Nb4Vc5Xd6Ye7Zf8Ag9Bh0Ci1Dj2Ek3Fl4Gm5Hn6_-Jo7Kp8AA",
    "openai-key": "sk-proj-Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVbNm9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0T3BlbkFJ",
    "google-key": "AIzaSyD4f7Gh2Jk9Lm3Nb5Vc8Xz1Qw6Er0Ty7Ui",
    "github-token": "ghp_R4nd0mT0k3nV4lu3F0rT35t1ngAbCdEf9876",
    "slack-token": "xoxb-2718281828-3141592653589-Zx9Cv8Bn7Mq6Wl5Ek4Rj3Th2",
    "aws-key": "AKIAZ7Q3X9K2M4P6R8T1",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0LXJlZGFjdCJ9.Xq7bT2c9LmZkPw3sRj8vN1yHd4gUe6oKaFi5",
}
GITHUB_PAT = "github_pat_11AZ7Q3X90aBcDeFgHiJkL_mNoPqRsTuVwXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ01234"
SECRET_VALUE = "Zq9-hunter2-x7Kp"
URL_PASSWORD = "pA55w0rdInUrl"


@pytest.mark.parametrize("kind", sorted(TOKENS))
def test_each_token_kind_in_text_json_and_pairs(kind):
    secret = TOKENS[kind]
    mark = f"[REDACTED:{kind}]"
    assert redact_text(f"use {secret} now") == f"use {mark} now"
    assert redact_text(secret) == mark
    assert redact_text(f"first line\n{secret}\nlast line") == f"first line\n{mark}\nlast line"
    assert redact_text(f"export SOME_VAR={secret}") == f"export SOME_VAR={mark}"
    # in JSON text, after an escaped newline, and in a document that stays valid
    raw = json.dumps({"text": f"line one\n{secret}\tand more", "n": 1})
    assert secret not in redact_text(raw) and json.loads(redact_text(raw))["n"] == 1
    doc = redact_document(raw + "\n" + json.dumps([secret]) + "\n")
    lines = [json.loads(line) for line in doc.splitlines()]
    assert lines[0]["text"] == f"line one\n{mark}\tand more" and lines[1] == [mark]


def test_github_pat_and_url_password():
    assert redact_text(f"GH={GITHUB_PAT};") == "GH=[REDACTED:github-token];"
    out = redact_text(f"git clone https://bob:{URL_PASSWORD}@example.com/r.git")
    assert out == "git clone https://bob:[REDACTED:url-password]@example.com/r.git"


@pytest.mark.parametrize("pem", [PEM, OPENSSH, PEM.replace("RSA ", "EC "), PEM.replace("RSA ", "")])
def test_private_key_blocks(pem):
    body = pem.splitlines()[1]
    assert redact_text(f"key:\n{pem}\nthanks") == "key:\n[REDACTED:private-key]\nthanks"
    raw = json.dumps({"content": f"here:\n{pem}\n", "other": "x"})  # `\n` escaped
    out = redact_text(raw)
    assert body not in out and json.loads(out) == {"content": "here:\n[REDACTED:private-key]\n",
                                                   "other": "x"}
    nested = json.dumps({"tool": json.dumps({"file": pem})})  # escaped twice
    assert body not in redact_text(nested) and json.loads(json.loads(redact_text(nested))["tool"])
    cut = pem[:120] + "…"  # a prompt or title clipped in the middle of the block
    assert body[:30] not in redact_text(cut) and redact_text(cut).startswith("[REDACTED:private-key]")
    assert body not in redact_document(raw) and json.loads(redact_document(raw))["other"] == "x"


@pytest.mark.parametrize("text,expected", [
    (f"password={SECRET_VALUE}", "password=[REDACTED:secret-value]"),
    (f"export DB_PASSWORD='{SECRET_VALUE}'", "export DB_PASSWORD='[REDACTED:secret-value]'"),
    (f'GITHUB_TOKEN="{SECRET_VALUE}" make', 'GITHUB_TOKEN="[REDACTED:secret-value]" make'),
    (f"  api_key: {SECRET_VALUE}\n  user: bob", "  api_key: [REDACTED:secret-value]\n  user: bob"),
    (f'{{"password": "{SECRET_VALUE}", "user": "bob"}}',
     '{"password": "[REDACTED:secret-value]", "user": "bob"}'),
    (f"{{'client_secret': '{SECRET_VALUE}'}}", "{'client_secret': '[REDACTED:secret-value]'}"),
    (f"Authorization: Bearer {SECRET_VALUE}", "Authorization: Bearer [REDACTED:secret-value]"),
    (f"https://x.test/cb?access_token={SECRET_VALUE}&state=1",
     "https://x.test/cb?access_token=[REDACTED:secret-value]&state=1"),
    (f"PGPASSWORD={SECRET_VALUE} psql", "PGPASSWORD=[REDACTED:secret-value] psql"),
    (f"x-api-key: {SECRET_VALUE}", "x-api-key: [REDACTED:secret-value]"),
    (f"AWS_SECRET_ACCESS_KEY={SECRET_VALUE}", "AWS_SECRET_ACCESS_KEY=[REDACTED:secret-value]"),
    (f"authToken := {SECRET_VALUE}", "authToken := [REDACTED:secret-value]"),
    (f"first\ncredentials: {SECRET_VALUE}\nlast", "first\ncredentials: [REDACTED:secret-value]\nlast"),
])
def test_secret_values_of_pairs(text, expected):
    assert redact_text(text) == expected
    raw = json.dumps({"t": text})  # the same inside a JSON string: escaped quotes stay whole
    assert SECRET_VALUE not in redact_text(raw)
    assert json.loads(redact_text(raw)) == {"t": expected}
    assert json.loads(redact_document(raw)) == {"t": expected}


def test_a_json_key_naming_a_secret_hides_its_whole_value():
    doc = json.dumps({"metadata": {"db_password": "two words", "passwordless": False,
                                   "input_tokens": 12, "author": "Jane", "token_count": "5"}})
    assert json.loads(redact_document(doc))["metadata"] == {
        "db_password": "[REDACTED:secret-value]", "passwordless": False, "input_tokens": 12,
        "author": "Jane", "token_count": "5"}


def test_a_redacted_claude_thinking_block_loses_its_signature():
    content = [{"type": "thinking", "thinking": f"the user gave {TOKENS['aws-key']}", "signature": "Eq0B"},
               {"type": "thinking", "thinking": "nothing secret", "signature": "Eq0C"},
               {"type": "text", "text": "ok"}]
    line = json.dumps({"type": "assistant", "message": {"role": "assistant", "content": content}})
    assert json.loads(redact_document(line))["message"]["content"] == [
        {"type": "text", "text": "the user gave [REDACTED:aws-key]"}, content[1], content[2]]


@pytest.mark.parametrize("key,secret", [
    ("password", True), ("DB_PASSWORD", True), ("passwd", True), ("client_secret", True),
    ("GITHUB_TOKEN", True), ("apiKey", True), ("x-api-key", True), ("auth", True),
    ("Authorization", True), ("aws_secret_access_key", True), ("private_key", True),
    ("credentials", True), ("PGPASSWORD", True), ("refreshToken", True),
    ("author", False), ("input_tokens", False), ("max_tokens", False), ("token_count", False),
    ("keyboard", False), ("monkey", False), ("password_file", False), ("auth_method", False),
    ("tokenizer", False), ("passage", False),
])
def test_key_names(key, secret):
    assert names_secret(key) is secret


@pytest.mark.parametrize("text", [
    "input_tokens: 1234, output_tokens: 56", "max_tokens=4096", "author: Jane Doe",
    "api_key: str = None", "token = get_token()", "key = os.environ['API_KEY']",
    "SECRET_KEY=$SECRET_KEY", "password=", "The task-list was long", "AKIA is a prefix",
    "see https://example.com/path?page=2", "ask-anything-you-like-with-a-long-slug",
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY-----",
])
def test_ordinary_text_is_kept(text):
    assert redact_text(text) == text


_TRIGGERS = ("sk-", "aiza", "gh", "github_pat", "xox", "akia", "asia", "eyj", "private key",
             "://", "pass", "pwd", "secret", "token", "auth", "key", "credential", "cookie")


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_text_without_secret_shapes_is_unchanged(text):
    if any(t in text.lower() for t in _TRIGGERS):
        return
    assert redact_text(text) == text
    assert redact_document(text) == text


_PIECES = st.sampled_from([*TOKENS.values(), GITHUB_PAT, PEM, PEM[:90], "password=", "token: ",
                           '"api_key": "', SECRET_VALUE, "\n", "\\n", '"', "'", " ", "=", "Bearer "])


_SEPARATORS = st.sampled_from([" ", "\n", "\t", '"', "'", ",", "=", ": ", "\x1f", "é ", "\\"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(_PIECES, st.text(max_size=12)), _SEPARATORS), max_size=12))
def test_redaction_is_idempotent_and_json_stays_valid(pieces):
    """Secrets delimited by anything (secrets glued to other letters are not recognised)."""
    text = "".join(piece + sep for piece, sep in pieces)
    once = redact_text(text)
    assert redact_text(once) == once
    for secret in (*TOKENS.values(), GITHUB_PAT):
        assert secret not in once
    raw = json.dumps({"a": text, "b": [text]})
    for out in (redact_text(raw), redact_document(raw)):
        value = json.loads(out)
        assert set(value) == {"a", "b"}
        assert all(s not in out for s in TOKENS.values())


def test_record_fields_and_bytes():
    record = {"id": "a" * 32, "backend": "claude", "backend_session_id": "x", "working_dir": "/w",
              "title": f"use {TOKENS['openai-key']}", "error": f"bad token={SECRET_VALUE}",
              "tags": [TOKENS["aws-key"]], "metadata": {"api_key": SECRET_VALUE,
                                                        "note": TOKENS["slack-token"]},
              "turns": [{"at": "t", "prompt": PEM[:200], "usage": {"input_tokens": 1}}]}
    out = json.dumps(redact_record(record))
    assert all(s not in out for s in (*TOKENS.values(), SECRET_VALUE, PEM.splitlines()[1][:30]))
    assert json.loads(out)["id"] == "a" * 32 and json.loads(out)["turns"][0]["usage"] == {"input_tokens": 1}
    data = b'{"a":"' + TOKENS["aws-key"].encode() + b' \xff\xfe"}\n'  # not UTF-8
    assert redact_bytes(data) == b'{"a":"[REDACTED:aws-key] \xff\xfe"}\n'
    lone = b'{"a":"\\ud83d ' + TOKENS["aws-key"].encode() + b'"}\n'  # a lone surrogate escape
    assert redact_bytes(lone) == b'{"a":"\\ud83d [REDACTED:aws-key]"}\n'


# --- end to end through the CLI ------------------------------------------------------------

def _planted() -> dict[str, str]:
    """Every planted secret, by a name (the text that must appear nowhere)."""
    out = dict(TOKENS)
    out.update({"github-pat": GITHUB_PAT, "secret-value": SECRET_VALUE, "url-password": URL_PASSWORD,
                "pem-body-1": PEM.splitlines()[1], "pem-body-2": OPENSSH.splitlines()[1],
                "pem": PEM})
    return out


def _carriers() -> dict[str, str]:
    """A text carrying each planted secret as it would be written."""
    out = {name: f"here is {name}: {secret}" for name, secret in TOKENS.items()}
    out.update({"github-pat": f"GH={GITHUB_PAT}", "pem": f"my key:\n{PEM}", "openssh": OPENSSH,
                "secret-value": f"run with\nexport DB_PASSWORD={SECRET_VALUE}\nplease",
                "url-password": f"clone https://bob:{URL_PASSWORD}@git.example.com/r.git"})
    return out


def _forms(secret: str) -> list[bytes]:
    """The secret as plain UTF-8, JSON-escaped, and base64 at the three alignments (the part
    of each encoding that depends on the secret alone)."""
    raw = secret.encode()
    forms = [raw, json.dumps(secret)[1:-1].encode()]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        start = -(-shift // 3) * 4 if shift else 0
        forms.append(encoded[start:len(encoded) - 4])
    return [f for f in forms if len(f) >= 12]


def _transcript(backend_id: str, workdir: str) -> str:
    lines = []
    parent = None
    for n, text in enumerate(_carriers().values()):
        uid = str(uuid.uuid4())
        lines.append({"parentUuid": parent, "type": "user", "sessionId": backend_id, "cwd": workdir,
                      "uuid": uid, "timestamp": "2026-11-01T10:00:00.000Z",
                      "message": {"role": "user", "content": text}})
        parent, uid = uid, str(uuid.uuid4())
        lines.append({"parentUuid": parent, "type": "assistant", "sessionId": backend_id,
                      "cwd": workdir, "uuid": uid, "timestamp": "2026-11-01T10:00:01.000Z",
                      "message": {"id": f"m{n}", "role": "assistant", "model": "claude-x",
                                  "content": [{"type": "tool_use", "id": f"t{n}", "name": "Write",
                                               "input": {"content": json.dumps({"k": text})}},
                                              {"type": "text", "text": f"noted {n}"}]}})
        parent = uid
    return "".join(json.dumps(line) + "\n" for line in lines)


def _bundle(workdir: str) -> tuple[dict, str]:
    """Two claude sessions whose record fields and transcripts carry every planted secret;
    the second transcript is not UTF-8 (so the bundle holds it base64)."""
    carriers = _carriers()
    enc = "".join(c if c.isalnum() else "-" for c in workdir)
    entries = []
    for n in range(2):
        backend_id = str(uuid.uuid4())
        record = {"schema_version": 2, "id": f"{n}" * 32, "backend": "claude",
                  "backend_session_id": backend_id, "model": None, "working_dir": workdir,
                  "title": f"deploy with {TOKENS['anthropic-key']}", "status": "error",
                  "error": f"login failed: password={SECRET_VALUE} {TOKENS['aws-key']}",
                  "created_at": "2026-11-01T10:00:00Z", "last_used": "2026-11-01T10:00:00Z",
                  "turn_count": len(carriers), "tags": [TOKENS["github-token"], "plain"],
                  "parent_id": None,
                  "metadata": {"api_key": SECRET_VALUE, "note": f"jwt {TOKENS['jwt']}",
                               "pat": GITHUB_PAT},
                  "turns": [{"at": "2026-11-01T10:00:00Z", "prompt": text[:200],
                             "duration_ms": 1, "exit_code": 0} for text in carriers.values()]}
        content = _transcript(backend_id, workdir)
        file = {"path": f"projects/{enc}/{backend_id}.jsonl", "content": content}
        if n == 1:  # a stray byte that is not UTF-8: exported base64
            raw = content.encode() + b'{"type":"x","junk":"\xff"}\n'
            file = {"path": file["path"], "content": base64.b64encode(raw).decode(), "encoding": "base64"}
        entries.append({"session": record, "transcript": {"backend": "claude", "files": [file]}})
    return {"format": "clinvk-export", "version": 1, "exported_at": "2026-11-02T00:00:00Z",
            "sessions": entries}, enc


def _assert_no_secret(data: bytes) -> None:
    for name, secret in _planted().items():
        for form in _forms(secret):
            assert form not in data, (name, form)


def test_export_redact_leaves_no_secret_in_any_form_and_imports(clinvk, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    clinvk.config("default_backend: claude\n")
    source, _ = _bundle(str(project))
    (tmp_path / "in.json").write_text(json.dumps(source))
    result = clinvk.run("sessions", "import", str(tmp_path / "in.json"))
    assert result.code == 0, result.err
    assert clinvk.run("sessions", "meta", "0000", "DB_PASSWORD", SECRET_VALUE + "x").code == 0
    plain = clinvk.run("sessions", "export", "--all", "-o", str(tmp_path / "plain.json"))
    assert plain.code == 0 and TOKENS["slack-token"].encode() in (tmp_path / "plain.json").read_bytes()
    assert [e["transcript"]["files"][0].get("encoding") for e in
            json.loads((tmp_path / "plain.json").read_text())["sessions"]] == ["utf-8", "base64"]

    out = tmp_path / "redacted.json"
    result = clinvk.run("sessions", "export", "--all", "--redact", "-o", str(out))
    assert result.code == 0, result.err
    data = out.read_bytes()
    _assert_no_secret(data)
    assert (SECRET_VALUE + "x").encode() not in data
    bundle = json.loads(data)
    assert bundle["redacted"] is True
    for kind in (*TOKENS, "private-key", "secret-value", "url-password"):
        assert f"[REDACTED:{kind}]".encode() in data, kind
    for entry in bundle["sessions"]:
        [file] = entry["transcript"]["files"]
        content = (base64.b64decode(file["content"]) if file["encoding"] == "base64"
                   else file["content"].encode())
        _assert_no_secret(content)
        parsed = [json.loads(line) for line in content.decode("utf-8", "replace").splitlines()]
        assert all(p["sessionId"] == entry["session"]["backend_session_id"] for p in parsed[:-1])
        assert entry["session"]["tags"] == ["[REDACTED:github-token]", "plain"]
        assert entry["session"]["metadata"]["api_key"] == "[REDACTED:secret-value]"
        assert entry["session"]["title"].startswith("deploy with [REDACTED:anthropic-key]")

    markdown = clinvk.run("sessions", "export", "--all", "--redact", "--format", "markdown")
    assert markdown.code == 0 and "[REDACTED:private-key]" in markdown.out, markdown.err
    _assert_no_secret(markdown.out.encode())

    (tmp_path / "elsewhere").mkdir()
    fresh = Clinvk(tmp_path / "elsewhere")
    fresh.config("default_backend: claude\n")
    result = fresh.run("sessions", "import", str(out), "--workdir", str(project), "--json")
    assert result.code == 0, result.err
    assert {r["id"] for r in result.json()} == {"0" * 32, "1" * 32}
    shown = fresh.run("sessions", "show", "0000", "--transcript")
    assert shown.code == 0 and "[REDACTED:openai-key]" in shown.out and "noted 3" in shown.out
    _assert_no_secret(shown.out.encode())
    for path in (fresh.user_home / ".claude" / "projects").rglob("*.jsonl"):
        _assert_no_secret(path.read_bytes())


def test_a_bundle_with_a_wrong_redacted_flag_is_refused(clinvk, tmp_path):
    clinvk.config("default_backend: claude\n")
    bundle, _ = _bundle(str(tmp_path))
    bundle["redacted"] = "yes"
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    result = clinvk.run("sessions", "import", str(tmp_path / "b.json"))
    assert result.code == 2 and '"redacted" must be true or false' in result.err


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["claude", "codex", "gemini"])
def test_redacted_export_resumes_on_the_real_cli(name, tmp_path):
    from standin import StandIn
    from test_e2e_move import World

    with StandIn() as standin:
        source = World((name,), standin, tmp_path / "a")
        key = TOKENS["openai-key"]
        result, _ = source.turn(name, "-b", name, "-o", "json",
                                f"remember {key} and password={SECRET_VALUE} MARK:secret")
        sid = result.json()["session_id"]
        bundle = tmp_path / "bundle.json"
        assert source.run("sessions", "export", sid, "--redact", "-o", str(bundle)).code == 0
        _assert_no_secret(bundle.read_bytes())

        target = World((name,), standin, tmp_path / "b", tag="2")
        result = target.run("sessions", "import", str(bundle), "--json")
        assert result.code == 0, result.err
        _, requests = target.turn(name, "resume", sid, "go on MARK:after")
        history = "\n".join(requests[-1])
        assert "MARK:secret" in history and "[REDACTED:openai-key]" in history, history
        assert key not in history and SECRET_VALUE not in history


def test_the_api_exports_redacted(tmp_path, monkeypatch):
    import clinvk.api as api

    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLINVK_HOME", str(tmp_path / "clinvk"))
    bundle, _ = _bundle(str(project))
    (tmp_path / "in.json").write_text(json.dumps(bundle))
    api.import_bundles([tmp_path / "in.json"])
    assert "redacted" not in api.export_sessions(["0000"])
    out = api.export_sessions(["0000"], redact=True)
    assert out["redacted"] is True
    _assert_no_secret(json.dumps(out, ensure_ascii=False).encode())

"""`sessions export` / `sessions import` without the real CLIs: bundles built by hand, hostile
inputs rejected with exit 2 and nothing written, --new-id, --force, id collisions."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import uuid
from pathlib import Path

import pytest
from conftest import Clinvk, assert_clean_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SID = "0123456789abcdef0123456789abcdef"


def _claude_bundle(workdir: str, backend_id: str | None = None, sid: str = SID) -> dict:
    backend_id = backend_id or str(uuid.uuid4())
    lines = [{"type": "user", "sessionId": backend_id, "cwd": workdir,
              "message": {"role": "user", "content": "first question"}},
             {"type": "assistant", "sessionId": backend_id, "cwd": workdir,
              "message": {"id": "m1", "role": "assistant", "model": "claude-x",
                          "content": [{"type": "text", "text": "an answer"}]}}]
    enc = "".join(c if c.isalnum() else "-" for c in workdir)
    record = {"schema_version": 2, "id": sid, "backend": "claude", "backend_session_id": backend_id,
              "model": None, "working_dir": workdir, "title": "first question", "status": "active",
              "error": None, "created_at": "2026-11-01T10:00:00Z", "last_used": "2026-11-01T10:00:00Z",
              "turn_count": 1, "turns": [], "tags": [], "parent_id": None, "metadata": {}}
    files = [{"path": f"projects/{enc}/{backend_id}.jsonl",
              "content": "\n".join(json.dumps(line) for line in lines) + "\n"}]
    return {"format": "clinvk-export", "version": 1, "exported_at": "2026-11-02T00:00:00Z",
            "sessions": [{"session": record, "transcript": {"backend": "claude", "files": files}}]}


def _snapshot(*roots: Path) -> dict[str, tuple]:
    out = {}
    for root in roots:
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if path.parent == root and path.name.startswith(("index", "lock", ".lock")):
                continue  # the derived index (refreshed by any read) and the lock file
            st_ = os.lstat(path)
            plain = path.is_file() and not path.is_symlink()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if plain else None
            out[str(path)] = (st_.st_mode, st_.st_mtime_ns, digest)
    return out


@pytest.fixture
def world(clinvk: Clinvk, tmp_path: Path) -> Clinvk:
    clinvk.project = tmp_path / "project"
    clinvk.project.mkdir()
    clinvk.config("default_backend: claude\n")
    return clinvk


def _write(path: Path, bundle: object) -> Path:
    path.write_text(json.dumps(bundle) if not isinstance(bundle, str) else bundle)
    return path


def test_import_installs_the_transcript_and_records_the_session(world, tmp_path):
    bundle = _claude_bundle(str(world.project))
    result = world.run("sessions", "import", str(_write(tmp_path / "b.json", bundle)), "--json")
    assert result.code == 0, result.err
    [record] = result.json()
    assert record["id"] == SID
    shown = world.run("sessions", "show", SID[:8], "--transcript")
    assert shown.code == 0 and "first question" in shown.out and "an answer" in shown.out

    exported = world.run("sessions", "export", SID)
    assert exported.code == 0, exported.err
    again = exported.json()["sessions"][0]
    assert again["session"]["id"] == SID and again["transcript"]["files"]
    markdown = world.run("sessions", "export", "--all", "--format", "markdown")
    assert markdown.code == 0 and "an answer" in markdown.out


def test_collision_new_id_twice_and_force(world, tmp_path):
    path = _write(tmp_path / "b.json", _claude_bundle(str(world.project)))
    assert world.run("sessions", "import", str(path)).code == 0
    before = _snapshot(world.home, world.user_home)
    result = world.run("sessions", "import", str(path))
    assert_clean_error(result, 2, "exists already", "session 1")
    assert _snapshot(world.home, world.user_home) == before

    ids = set()
    for _ in range(2):
        result = world.run("sessions", "import", str(path), "--new-id", "--json")
        assert result.code == 0, result.err
        ids.add((result.json()[0]["id"], result.json()[0]["backend_session_id"]))
    assert len(ids) == 2 and SID not in {i for i, _ in ids}
    assert len(world.sessions()) == 3
    claude_files = list((world.user_home / ".claude" / "projects").rglob("*.jsonl"))
    assert len(claude_files) == 3

    result = world.run("sessions", "import", str(path), "--force", "--title", "replaced", "--json")
    assert result.code == 0, result.err
    assert {r["id"]: r for r in world.sessions()}[SID]["title"] == "replaced"


def test_workdir_rewrites_the_claude_cwd(world, tmp_path):
    other = tmp_path / "other place"
    other.mkdir()
    path = _write(tmp_path / "b.json", _claude_bundle("/nowhere/old"))
    result = world.run("sessions", "import", str(path), "--workdir", str(other), "--json")
    assert result.code == 0, result.err
    [record] = result.json()
    [file] = (world.user_home / ".claude" / "projects").rglob("*.jsonl")
    assert file.parent.name == "".join(c if c.isalnum() else "-" for c in str(other))
    assert all(json.loads(line)["cwd"] == str(other) for line in file.read_text().splitlines())
    assert record["working_dir"] == str(other)


def _hostile(workdir: str) -> list[tuple[str, object]]:
    good = _claude_bundle(workdir)

    def with_(fn) -> dict:
        bundle = copy.deepcopy(good)
        fn(bundle)
        return bundle

    files = lambda b: b["sessions"][0]["transcript"]["files"]  # noqa: E731
    return [
        ("not json", "{nope"),
        ("not a bundle", [1, 2]),
        ("wrong format", with_(lambda b: b.update(format="other"))),
        ("newer version", with_(lambda b: b.update(version=2))),
        ("version type", with_(lambda b: b.update(version="1"))),
        ("sessions type", with_(lambda b: b.update(sessions={"a": 1}))),
        ("dotdot", with_(lambda b: files(b)[0].update(path="projects/../../../../etc/x.jsonl"))),
        ("absolute", with_(lambda b: files(b)[0].update(path="/etc/passwd"))),
        ("wrong layout", with_(lambda b: files(b)[0].update(path="evil/x.jsonl"))),
        ("content type", with_(lambda b: files(b)[0].update(content=["x"]))),
        ("bad base64", with_(lambda b: files(b)[0].update(encoding="base64", content="@@@"))),
        ("huge title", with_(lambda b: b["sessions"][0]["session"].update(title="x" * (2 << 20)))),
        ("bad id", with_(lambda b: b["sessions"][0]["session"].update(id="../../x"))),
        ("bad backend id", with_(lambda b: b["sessions"][0]["session"].update(
            backend_session_id="../x"))),
        ("relative workdir", with_(lambda b: b["sessions"][0]["session"].update(working_dir="rel"))),
        ("unknown backend", with_(lambda b: b["sessions"][0]["session"].update(backend="nope"))),
        ("tags type", with_(lambda b: b["sessions"][0]["session"].update(tags="a"))),
        ("entry type", with_(lambda b: b["sessions"].append("x"))),
    ]


@pytest.mark.parametrize("case", range(18))
def test_hostile_bundles_are_exit_2_and_write_nothing(world, tmp_path, case):
    valid = _write(tmp_path / "valid.json", _claude_bundle(str(world.project), sid="f" * 32))
    name, bundle = _hostile(str(world.project))[case]
    bad = _write(tmp_path / "bad.json", bundle)
    world.home.mkdir(exist_ok=True)
    before = _snapshot(world.home, world.user_home, tmp_path / "etc")
    result = world.run("sessions", "import", str(valid), str(bad))  # the valid one is not imported either
    assert_clean_error(result, 2, "bad.json")
    assert _snapshot(world.home, world.user_home, tmp_path / "etc") == before, name


def test_symlink_in_the_target_is_refused(world, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    projects = world.user_home / ".claude" / "projects"
    projects.mkdir(parents=True)
    enc = "".join(c if c.isalnum() else "-" for c in str(world.project))
    (projects / enc).symlink_to(outside)
    before = _snapshot(world.home, world.user_home, outside)
    result = world.run("sessions", "import", str(_write(tmp_path / "b.json",
                                                        _claude_bundle(str(world.project)))))
    assert_clean_error(result, 2, "symbolic link")
    assert _snapshot(world.home, world.user_home, outside) == before
    assert not list(outside.iterdir())


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
_PATHS = [("format",), ("version",), ("sessions",), ("sessions", 0), ("sessions", 0, "session"),
          ("sessions", 0, "transcript"), ("sessions", 0, "session", "id"),
          ("sessions", 0, "session", "working_dir"), ("sessions", 0, "session", "backend_session_id"),
          ("sessions", 0, "transcript", "files"), ("sessions", 0, "transcript", "files", 0, "path"),
          ("sessions", 0, "transcript", "files", 0, "content")]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(where=st.sampled_from(_PATHS), value=_json)
def test_random_damage_is_a_clean_error_or_a_clean_import(where, value):
    import clinvk.api as api

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        project = tmp / "project"
        project.mkdir()
        bundle = _claude_bundle(str(project))
        node = bundle
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = value
        path = _write(tmp / "b.json", bundle)
        env = {"HOME": str(tmp / "home"), "CLINVK_HOME": str(tmp / "clinvk")}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            before = _snapshot(tmp / "home", tmp / "clinvk")
            try:
                api.import_bundles([path])
            except api.ClinvkError as exc:
                assert exc.exit_code == 2, exc.message
                assert "b.json" in exc.message or "--" in exc.message
                assert _snapshot(tmp / "home", tmp / "clinvk") == before
            written = [p for p in tmp.rglob("*") if p.is_file()]
            assert all(str(p).startswith((str(tmp / "home" / ".claude"), str(tmp / "clinvk"),
                                          str(path))) for p in written), written
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

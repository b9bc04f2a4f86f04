"""The ordered migration chain of a session record (store/migrations.py): an older file is
upgraded when read and written in the current version by the next write; a file written by
a newer clinvk is skipped with its own warning and never rewritten, replaced or cleaned."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from test_sessions_cli import add, path_of

from clinvk.store import SessionExists, SessionStore, dirkey, migrations
from clinvk.store import write as store_write
from clinvk.store.record_check import SCHEMA_VERSION

SID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def chain(monkeypatch):
    """A private registry holding the real steps, so that the steps a test adds leave no trace."""
    monkeypatch.setattr(migrations, "MIGRATIONS", dict(migrations.MIGRATIONS))
    return migrations.MIGRATIONS


def _write_old(home: Path, record: dict) -> Path:
    path = home / "sessions" / dirkey(record["working_dir"]) / f"{record['id']}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    return path


def test_an_older_record_goes_through_every_step_in_order_and_is_upgraded_on_write(tmp_path, chain):
    ran: list[int] = []

    @migrations.migration(-1)  # test-only versions: -1 -> 0 -> 1, then the real 1 -> 2
    def _label_became_name(record: dict) -> dict:
        ran.append(record["schema_version"])
        record["name"] = record.pop("label")
        return record

    @migrations.migration(0)
    def _name_became_title(record: dict) -> dict:
        ran.append(record["schema_version"])
        record["title"] = record.pop("name")
        record["created_at"] = record.pop("when")
        return record

    assert SCHEMA_VERSION == 2
    old = {"schema_version": -1, "id": SID, "backend": "claude", "working_dir": "/w/old",
           "label": "from the old days", "when": "2026-11-01T00:00:00Z"}
    path = _write_old(tmp_path / "home", old)
    warnings: list[str] = []
    store = SessionStore(tmp_path / "home", warn=warnings.append)
    [record] = store.list()
    assert ran and ran == [-1, 0] * (len(ran) // 2)  # in order, on each read of the file
    assert record["schema_version"] == 2 and record["title"] == "from the old days"
    assert record["origin"] == "clinvk" and record["cost_source"] is None and record["archive"] is None
    assert record["created_at"] == record["last_used"] == "2026-11-01T00:00:00Z"
    assert "label" not in record and "name" not in record and "when" not in record
    assert store.get(SID[:6]) == record
    assert json.loads(path.read_text()) == old  # a read never writes
    store.update(SID, lambda r: r["tags"].append("kept"))
    on_disk = json.loads(path.read_text())
    assert on_disk["schema_version"] == 2 and on_disk["title"] == "from the old days"
    assert on_disk["tags"] == ["kept"] and "label" not in on_disk
    assert warnings == []
    store.close()


def test_a_version_with_no_step_to_the_next_is_an_invalid_record(tmp_path, chain):
    migrations.migration(0)(lambda record: record)  # 0 -> 1 exists, -1 -> 0 does not
    old = {"schema_version": -1, "id": SID, "backend": "claude", "working_dir": "/w/old",
           "created_at": "2026-11-01T00:00:00Z"}
    path = _write_old(tmp_path / "home", old)
    warnings: list[str] = []
    store = SessionStore(tmp_path / "home", warn=warnings.append)
    assert store.list() == []
    assert warnings == [f"skipping {path}: not a valid clinvk session (unsupported schema_version -1)"]
    store.close()


def _newer(clinvk) -> tuple[Path, str]:
    """A file of the next schema version, next to a valid session, last used 400 days ago."""
    good = add(clinvk)
    assert SCHEMA_VERSION + 1 == 3  # this clinvk writes 2: a file of 3 is a newer clinvk's
    record = dict(good, id="6" * 32, schema_version=SCHEMA_VERSION + 1, something_new=[1, 2],
                  last_used="2025-01-01T00:00:00Z", created_at="2025-01-01T00:00:00Z")
    path = path_of(clinvk, good).parent / f"{record['id']}.json"
    text = json.dumps(record, indent=2)
    path.write_text(text)
    return path, text


def test_a_file_of_a_newer_clinvk_is_skipped_with_its_version_and_never_cleaned(clinvk):
    clinvk.config("session:\n  auto_clean: false\n")
    path, text = _newer(clinvk)
    old = add(clinvk, age=timedelta(days=400))
    for _ in range(2):  # the first run builds the index, the second reads it
        result = clinvk.run("sessions", "list")
        assert result.code == 0, result.err
        warnings = [line for line in result.err.splitlines() if line.startswith("clinvk: warning:")]
        assert len(warnings) == 1, result.err
        assert str(path) in warnings[0] and f"schema_version {SCHEMA_VERSION + 1}" in warnings[0]
        assert "newer clinvk" in warnings[0] and "not a valid" not in warnings[0]
    cleaned = clinvk.run("sessions", "clean", "--older-than", "1h")
    assert cleaned.code == 0, cleaned.err
    assert not path_of(clinvk, old).exists()  # the clean ran, and removed the old session
    assert path.read_text() == text  # but left the newer file as it was


def test_an_import_never_replaces_a_file_of_a_newer_clinvk(clinvk):
    path, text = _newer(clinvk)
    record = json.loads(text)
    record.update(schema_version=SCHEMA_VERSION)
    del record["something_new"]
    store = SessionStore(clinvk.home)
    with store.lock(), pytest.raises(SessionExists, match="newer clinvk"):
        store_write.plan(store, [record], {record["id"]})
    store.close()
    assert path.read_text() == text


def test_import_force_over_a_newer_clinvks_file_does_not_suggest_force(clinvk, tmp_path):
    path, text = _newer(clinvk)
    record = json.loads(text)
    record.update(schema_version=SCHEMA_VERSION)
    del record["something_new"]
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps({"format": "clinvk-export", "version": 1,
                                  "sessions": [{"session": record}]}))
    result = clinvk.run("sessions", "import", "--force", str(bundle))
    assert result.code == 2 and "newer clinvk" in result.err, result.err
    assert "--new-id" in result.err and "--force" not in result.err
    assert path.read_text() == text

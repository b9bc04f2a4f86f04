"""schema_version 2 (SPEC "Schema 2", "Cost for every backend"): version-1 files read, shown,
resumed and written back as version 2; import of version 1 and 2 bundles; the new fields
checked; the cost estimated from the pricing table where the backend reports none."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import FAKES, Clinvk, assert_clean_error, with_fake_backend

from clinvk.store import dirkey
from clinvk.store import session as S

SID = "0123456789abcdef0123456789abcdef"
BACKEND_ID = "11111111-2222-3333-4444-555555555555"
THREAD = "01a20592-dc3e-72b0-bd0f-2803fb0461c4"
USAGE_V1 = {"input_tokens": 17, "cached_input_tokens": 5, "cache_creation_input_tokens": 2,
            "output_tokens": 7, "reasoning_tokens": 0, "total_tokens": 24}


def _v1(workdir: str, backend: str = "fake", sid: str = SID, cost: float | None = 0.001) -> dict:
    """A record exactly as clinvk wrote schema_version 1 (its fields, in its order)."""
    return {
        "schema_version": 1, "id": sid, "backend": backend, "backend_session_id": BACKEND_ID,
        "model": "fake-model", "working_dir": workdir, "title": "the old question",
        "status": "active", "error": None, "created_at": "2026-11-01T10:00:00Z",
        "last_used": "2026-11-01T10:00:05Z", "turn_count": 1, "token_usage": dict(USAGE_V1),
        "cost_usd": cost,
        "turns": [{"at": "2026-11-01T10:00:05Z", "prompt": "the old question",
                   "duration_ms": 5000, "exit_code": 0, "usage": dict(USAGE_V1)}],
        "tags": ["old"], "parent_id": None, "metadata": {"k": "v"},
    }


def _write_v1(home: Path, record: dict) -> Path:
    path = home / "sessions" / dirkey(record["working_dir"]) / f"{record['id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


@pytest.fixture
def fake(clinvk: Clinvk, tmp_path: Path) -> Clinvk:
    return with_fake_backend(clinvk, tmp_path, BACKEND_ID)


def test_a_version_1_file_is_listed_shown_resumed_and_then_written_as_version_2(fake, tmp_path):
    path = _write_v1(fake.home, _v1(str(tmp_path)))
    text = path.read_text()
    [listed] = fake.sessions()
    assert listed["id"] == SID and listed["schema_version"] == 2 and listed["origin"] == "clinvk"
    assert listed["cost_source"] == "reported" and listed["archive"] is None
    shown = fake.run("sessions", "show", SID[:8])
    assert shown.code == 0 and "the old question" in shown.out, shown.err
    assert path.read_text() == text  # reads never write
    resumed = fake.run("resume", SID[:8], "and", "now")
    assert resumed.code == 0, resumed.err
    on_disk = json.loads(path.read_text())
    assert on_disk["schema_version"] == 2 and on_disk["origin"] == "clinvk"
    assert on_disk["archive"] is None and on_disk["turn_count"] == 2
    assert on_disk["cost_usd"] == pytest.approx(0.002) and on_disk["cost_source"] == "reported"
    assert on_disk["tags"] == ["old"] and on_disk["metadata"] == {"k": "v"}
    assert [t["prompt"] for t in on_disk["turns"]] == ["the old question", "and now"]
    assert all("outside" not in t for t in on_disk["turns"])  # written only when true
    assert list(on_disk)[:4] == ["schema_version", "id", "backend", "origin"]


def test_a_version_1_record_without_a_cost_upgrades_to_a_null_cost_source():
    record = S.load(_v1("/w", cost=None))
    assert record["schema_version"] == 2 and record["cost_source"] is None
    assert record["origin"] == "clinvk" and record["archive"] is None


def test_a_new_session_is_version_2_with_origin_clinvk_and_the_reported_cost(fake):
    result = fake.run("-b", "fake", "say", "hi")
    assert result.code == 0, result.err
    [session] = fake.sessions()
    assert session["schema_version"] == 2 and session["origin"] == "clinvk"
    assert session["cost_usd"] == 0.001 and session["cost_source"] == "reported"  # claude's own
    assert session["archive"] is None
    stats = fake.run("sessions", "stats", "--json")
    assert stats.code == 0, stats.err
    assert "cost_estimated" not in json.dumps(stats.json())  # nothing estimated: as before
    assert "~" not in fake.run("sessions", "stats").out


def _bundle(records: list[dict]) -> dict:
    return {"format": "clinvk-export", "version": 1, "exported_at": "2026-11-02T00:00:00Z",
            "sessions": [{"session": r, "transcript": None} for r in records]}


def test_import_takes_version_1_and_version_2_records_and_marks_them_imported(clinvk, tmp_path):
    v1 = _v1(str(tmp_path), backend="claude")
    v2 = {**S.load(_v1(str(tmp_path), backend="claude", sid="a" * 32)), "origin": "adopted"}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(_bundle([v1, v2])))
    result = clinvk.run("sessions", "import", str(path), "--json")
    assert result.code == 0, result.err
    records = {r["id"]: r for r in clinvk.sessions()}
    assert set(records) == {SID, "a" * 32}
    for record in records.values():
        assert record["schema_version"] == 2 and record["origin"] == "imported"
        assert record["cost_source"] == "reported" and record["archive"] is None
    on_disk = json.loads((clinvk.home / "sessions" / dirkey(str(tmp_path)) / f"{SID}.json").read_text())
    assert on_disk["schema_version"] == 2 and on_disk["origin"] == "imported"


@pytest.mark.parametrize("change", [
    {"origin": "stolen"}, {"origin": None}, {"cost_source": "guessed"}, {"cost_source": 1},
    {"archive": "yes"}, {"archive": {"bytes": -1, "sha256": "0" * 64, "at": "2026-11-01T00:00:00Z"}},
    {"archive": {"bytes": 10, "sha256": "0" * 63, "at": "2026-11-01T00:00:00Z"}},
    {"archive": {"bytes": 10, "sha256": "A" * 64, "at": "2026-11-01T00:00:00Z"}},
    {"archive": {"bytes": 10, "sha256": "0" * 64, "at": "yesterday"}},
    {"archive": {"bytes": True, "sha256": "0" * 64, "at": "2026-11-01T00:00:00Z"}},
    {"turns": [{"at": "2026-11-01T10:00:05Z", "prompt": "p", "duration_ms": 1, "exit_code": 0,
                "outside": "yes"}]},
    {"schema_version": 3},
], ids=lambda change: "-".join(f"{k}={v!r:.20}" for k, v in change.items()))
def test_import_refuses_bad_schema_2_values_with_exit_2(clinvk, tmp_path, change):
    record = {**S.load(_v1(str(tmp_path), backend="claude")), **change}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(_bundle([record])))
    result = clinvk.run("sessions", "import", str(path))
    assert_clean_error(result, 2, "invalid session record")
    assert not (clinvk.home / "sessions").exists() or clinvk.sessions() == []


def test_the_record_check_takes_a_good_archive_and_outside_turns():
    archive = {"bytes": 1234, "sha256": "ab" * 32, "at": "2026-11-01T00:00:00+00:00"}
    turn = {"at": "2026-11-01T10:00:05Z", "prompt": "p", "duration_ms": 1, "exit_code": 0}
    record = S.validate_record({**S.load(_v1("/w")), "archive": archive, "origin": "adopted",
                                "turns": [{**turn, "outside": True}, {**turn, "outside": False}]})
    assert record["archive"] == {**archive, "at": "2026-11-01T00:00:00Z"}
    assert [t["outside"] for t in record["turns"]] == [True, False]


def test_a_session_mixing_reported_and_estimated_costs_is_estimated():
    record = S.new_session("claude", "/w")
    assert record["cost_source"] is None
    S.add_turn(record, prompt="a", duration_ms=1, exit_code=0, cost_usd=0.5)
    assert record["cost_source"] == "reported"
    S.add_turn(record, prompt="b", duration_ms=1, exit_code=0, cost_usd=0.25, cost_estimated=True)
    assert record["cost_usd"] == 0.75 and record["cost_source"] == "estimated"
    S.add_turn(record, prompt="c", duration_ms=1, exit_code=0, cost_usd=0.25)
    assert record["cost_usd"] == 1.0 and record["cost_source"] == "estimated"


def _codex(clinvk: Clinvk, model: str | None, extra: str = "") -> Clinvk:
    lines = ["backends:", "  fakecodex:", "    adapter: codex",
             f"    command: {FAKES / 'fake_codex.py'}", f"    env: {{FAKE_THREAD_ID: {THREAD}}}"]
    if model:
        lines.append(f"    model: {model}")
    clinvk.config("\n".join(lines) + "\n" + extra)
    return clinvk


# gpt-5 in the shipped table: input 1.25, cache read 0.125, output 10 USD per million tokens.
# The turn: 204 input tokens of which 50 cached, 9 output (3 of them reasoning):
#   (204 - 50) x 1.25 + 50 x 0.125 + 9 x 10 = 192.5 + 6.25 + 90 = 288.75 per million
GPT5_TURN = 0.00028875


def test_a_codex_turn_gets_the_estimated_cost_and_stats_marks_it(clinvk):
    _codex(clinvk, "gpt-5")
    result = clinvk.run("-b", "fakecodex", "hello")
    assert result.code == 0, result.err
    [session] = clinvk.sessions()
    assert session["turns"][0]["usage"]["input_tokens"] == 204
    assert session["turns"][0]["usage"]["cached_input_tokens"] == 50
    assert session["turns"][0]["usage"]["output_tokens"] == 9
    assert Decimal(repr(session["cost_usd"])) == Decimal("0.00028875")
    assert session["cost_usd"] == GPT5_TURN and session["cost_source"] == "estimated"
    stats = clinvk.run("sessions", "stats", "--json")
    assert stats.code == 0, stats.err
    assert stats.json()["total"]["cost_estimated"] is True
    text = clinvk.run("sessions", "stats")
    assert "~$0.00" in text.out, text.out
    shown = clinvk.run("sessions", "show", session["id"][:8])
    assert "cost:               $0.000289 (estimated)" in shown.out, shown.out
    one = clinvk.run("sessions", "stats", session["id"][:8], "--json")
    assert one.code == 0 and one.json()["total"]["cost_estimated"] is True, one.out
    again = clinvk.run("resume", session["id"][:8], "more")
    assert again.code == 0, again.err
    [session] = clinvk.sessions()
    assert session["cost_usd"] == pytest.approx(2 * GPT5_TURN) and session["cost_source"] == "estimated"


def test_prices_in_the_config_override_the_table(clinvk):
    _codex(clinvk, "my-model", "prices:\n  my-model: {input: 1000000, output: 0}\n")
    result = clinvk.run("-b", "fakecodex", "hello")
    assert result.code == 0, result.err
    [session] = clinvk.sessions()
    assert session["cost_usd"] == 204 and session["cost_source"] == "estimated"  # 1 USD a token


@pytest.mark.parametrize("model, extra", [
    ("no-such-model-anywhere", ""),  # unknown model: no estimate
    ("gpt-5", "session:\n  store_token_usage: false\n"),  # no usage kept: nothing to estimate
])
def test_no_estimate_without_a_known_model_or_the_usage(clinvk, model, extra):
    _codex(clinvk, model, extra)
    result = clinvk.run("-b", "fakecodex", "hello")
    assert result.code == 0, result.err
    [session] = clinvk.sessions()
    assert session["cost_usd"] is None and session["cost_source"] is None

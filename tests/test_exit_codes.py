"""ExitCode: SPEC's exit codes as named ints, used as an IntEnum would be (it is a small class
of its own: `enum` is not imported before a turn's backend is spawned)."""

from __future__ import annotations

import json

import pytest

from clinvk.errors import BackendNotInstalled, ExitCode, TimedOut, UsageError


def test_the_codes_are_spec_s():
    assert [(c.name, int(c)) for c in ExitCode] == [
        ("OK", 0), ("BACKEND_FAILED", 1), ("USAGE", 2), ("NOT_INSTALLED", 3),
        ("TIMEOUT", 124), ("INTERRUPTED", 130)]
    assert len(ExitCode) == 6 and 124 in ExitCode and 5 not in ExitCode and "2" not in ExitCode


def test_a_code_behaves_as_an_int_enum_member():
    code = ExitCode(2)
    assert code is ExitCode.USAGE and isinstance(code, int) and code == 2
    assert code.name == "USAGE" and code.value == 2
    assert repr(code) == "<ExitCode.USAGE: 2>" and str(code) == "2" and f"{code}" == "2"
    assert json.dumps({"exit_code": ExitCode.TIMEOUT}) == '{"exit_code": 124}'
    assert {ExitCode.OK: "ok"}[0] == "ok" and ExitCode.INTERRUPTED + 0 == 130
    with pytest.raises(ValueError, match="5 is not a valid ExitCode"):
        ExitCode(5)


def test_each_error_carries_its_code():
    assert UsageError("x").exit_code is ExitCode.USAGE
    assert BackendNotInstalled("x").exit_code is ExitCode.NOT_INSTALLED
    assert TimedOut("x").exit_code is ExitCode.TIMEOUT
    assert UsageError("x", ExitCode.BACKEND_FAILED).exit_code == 1

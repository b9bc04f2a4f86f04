"""The config file's contents checked and merged into the settings: the type of every key,
the YAML parse. Imported only when there is a config file (clinvk.config reads it)."""

from __future__ import annotations

from clinvk.config_defaults import BACKEND_DEFAULTS, BUILTIN_BACKENDS, DEFAULTS, set_value
from clinvk.errors import ConfigError

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    _Check = tuple[Callable[[Any], bool], str]  # (checker, what is expected)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _nonneg_int(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _str_list(v: Any) -> bool:
    """Strings an argv can hold (no NUL)."""
    return isinstance(v, list) and all(isinstance(x, str) and "\0" not in x for x in v)


def _is_seconds(v: Any) -> bool:
    from clinvk.durations import seconds

    if isinstance(v, str):  # a quoted "300" in YAML is a mistake worth naming
        return False
    try:
        seconds(v)
    except ValueError:
        return False
    return True


def _str_map(v: Any) -> bool:
    """Environment variables: a name (no `=`, no NUL, not empty) to a value (no NUL)."""
    return isinstance(v, dict) and all(
        isinstance(k, str) and k and "=" not in k and "\0" not in k
        and isinstance(x, str) and "\0" not in x for k, x in v.items())


def _opt_str(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v != "")


_BOOL: _Check = (lambda v: isinstance(v, bool), "true or false")
SCHEMA: dict[str, _Check] = {
    "default_backend": (lambda v: isinstance(v, str) and v != "", "a backend name"),
    "timeout_seconds": (_is_seconds, "a finite number of seconds ≥ 0"),
    "session.auto_resume": _BOOL,
    "session.retention_days": (_nonneg_int, "a whole number of days ≥ 0"),
    "session.auto_clean": _BOOL,
    "session.store_token_usage": _BOOL,
    "session.store_prompts": _BOOL,
    "session.default_tags": (_str_list, "a list of strings (without NUL)"),
    # > 0: a turn whose backend ran must be able to wait for its write (recorder.py)
    "session.lock_timeout_seconds": (lambda v: (_is_int(v) or isinstance(v, float)) and 0 < v < 1e9,
                                     "a number of seconds > 0"),
    "output.format": (lambda v: v in ("text", "json", "stream-json"), "text, json or stream-json"),
    "output.show_tokens": _BOOL,
    "output.progress": _BOOL,
    "output.color": (lambda v: v in ("auto", "always", "never"), "auto, always or never"),
    "handoff.max_chars": (lambda v: _is_int(v) and v > 0, "a whole number > 0"),
    "adopt.auto": _BOOL,
    "adopt.budget_ms": (lambda v: _is_int(v) and 0 <= v <= 3_600_000,
                        "a whole number of milliseconds from 0 to 3600000"),
    "archive.enabled": _BOOL,
}
BACKEND_SCHEMA: dict[str, _Check] = {
    "command": (lambda v: isinstance(v, str) and v != "" and "\0" not in v,
                "a command name or path (without NUL)"),
    "model": (_opt_str, "a model name or null"),
    "extra_flags": (_str_list, "a list of strings (without NUL)"),
    "env": (_str_map, "a map of variable names (no '=') to strings (without NUL)"),
    "enabled": _BOOL,
    "adapter": (lambda v: v is None or v in BUILTIN_BACKENDS, "claude, codex or gemini"),
}


def parsed(text: str, path: str) -> Any:
    """The YAML document `text` of the config file `path`."""
    import yaml  # deferred: not needed unless a config file exists (and is not cached)

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    except Exception as exc:  # whatever else a hostile file makes the parser raise
        raise ConfigError(f"{path}: invalid YAML: {type(exc).__name__}") from None
    return data


def merge(values: dict, sources: dict, warnings: list, data: dict, path: str) -> None:
    src = f"file {path}"
    for key, value in data.items():
        if key == "backends":
            _merge_backends(values, sources, warnings, value, path)
        elif key == "prices":
            _merge_prices(values, sources, value, path)
        elif isinstance(DEFAULTS.get(key), dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: key '{key}' must be a mapping")
            for sub, subval in value.items():
                dotted = f"{key}.{sub}"
                if dotted not in SCHEMA:
                    warnings.append(f"{path}: unknown key '{dotted}' ignored")
                    continue
                _check(path, dotted, subval, SCHEMA[dotted])
                set_value(values, dotted, subval)
                sources[dotted] = src
        elif key in SCHEMA:
            _check(path, key, value, SCHEMA[key])
            values[key] = value
            sources[key] = src
        else:
            warnings.append(f"{path}: unknown key '{key}' ignored")


def _merge_backends(values: dict, sources: dict, warnings: list, data: Any, path: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: key 'backends' must be a mapping of backend names")
    for name, conf in data.items():
        if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"{path}: backend name {name!r} must be letters, digits, - or _")
        if conf is None:
            continue
        if not isinstance(conf, dict):
            raise ConfigError(f"{path}: key 'backends.{name}' must be a mapping")
        target = values["backends"].setdefault(name, {**BACKEND_DEFAULTS, "command": name})
        for sub, subval in conf.items():
            dotted = f"backends.{name}.{sub}"
            if sub not in BACKEND_SCHEMA:
                warnings.append(f"{path}: unknown key '{dotted}' ignored")
                continue
            _check(path, dotted, subval, BACKEND_SCHEMA[sub])
            target[sub] = subval
            sources[dotted] = f"file {path}"
        if name not in BUILTIN_BACKENDS and not target.get("adapter"):
            raise ConfigError(
                f"{path}: custom backend 'backends.{name}' needs 'adapter: claude|codex|gemini'"
            )


def _merge_prices(values: dict, sources: dict, data: Any, path: str) -> None:
    """`prices`: whole rows per model; unknown fields refused (a typo would price silently wrong)."""
    from clinvk.pricing import PRICE_FIELDS, REQUIRED_FIELDS, price_number_ok

    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: key 'prices' must be a mapping of model names to prices")
    fields = ", ".join(PRICE_FIELDS)
    for model, row in data.items():
        dotted = f"prices.{model}"
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"{path}: key 'prices' must map model names, got {model!r}")
        if not isinstance(row, dict):
            raise ConfigError(f"{path}: key '{dotted}' must be a mapping of {fields}")
        for sub, number in row.items():
            if sub not in PRICE_FIELDS:
                raise ConfigError(f"{path}: key '{dotted}.{sub}' is not a price field (expected {fields})")
            _check(path, f"{dotted}.{sub}", number, (price_number_ok, "a finite number ≥ 0 (USD/million)"))
        missing = [f for f in REQUIRED_FIELDS if f not in row]
        if missing:
            needs = " and ".join(missing)
            raise ConfigError(f"{path}: key '{dotted}' needs {needs} (USD per million tokens)")
        values["prices"][model] = dict(row)
        for sub in row:
            sources[f"{dotted}.{sub}"] = f"file {path}"


def _check(path: str, dotted: str, value: Any, check: _Check) -> None:
    ok, expected = check
    if not ok(value):
        import reprlib  # the value shortened: it may be huge or deeply nested

        raise ConfigError(f"{path}: key '{dotted}' must be {expected}, got {reprlib.repr(value)}")

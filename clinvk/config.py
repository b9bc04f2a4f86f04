"""Settings: defaults < config file < CLINVK_* variables < flags, remembering each value's source."""

from __future__ import annotations

import os

from clinvk import paths
from clinvk.errors import ConfigError

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:  # neither typing nor pathlib is imported before a turn's backend is spawned
    from collections.abc import Callable, Mapping
    from pathlib import Path
    from typing import Any

    _Check = tuple[Callable[[Any], bool], str]  # (checker, what is expected)

BACKEND_DEFAULTS: dict[str, Any] = {
    "command": None,
    "model": None,
    "extra_flags": [],
    "env": {},
    "enabled": True,
    "adapter": None,
}

DEFAULTS: dict[str, Any] = {
    "default_backend": "claude",
    "timeout_seconds": 0,
    "backends": {name: {**BACKEND_DEFAULTS, "command": name} for name in ("claude", "codex", "gemini")},
    "session": {
        "auto_resume": False,
        "retention_days": 30,
        "auto_clean": True,
        "store_token_usage": True,
        "store_prompts": True,
        "default_tags": [],
        "lock_timeout_seconds": 30,
    },
    "output": {"format": "text", "show_tokens": False, "color": "auto", "progress": True},
    "handoff": {"max_chars": 100000},
    "adopt": {"auto": True, "budget_ms": 300},
    "archive": {"enabled": True},
    "prices": {},  # model -> {input, cache_read, cache_write, cache_write_1h, output}, USD per million
}

BUILTIN_BACKENDS = ("claude", "codex", "gemini")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _nonneg_int(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


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
    return isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())


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
    "session.default_tags": (_str_list, "a list of strings"),
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
    "command": (lambda v: isinstance(v, str) and v != "", "a command name or path"),
    "model": (_opt_str, "a model name or null"),
    "extra_flags": (_str_list, "a list of strings"),
    "env": (_str_map, "a map of strings to strings"),
    "enabled": _BOOL,
    "adapter": (lambda v: v is None or v in BUILTIN_BACKENDS, "claude, codex or gemini"),
}

ENV_VARS: dict[str, str] = {
    "CLINVK_BACKEND": "default_backend",
    "CLINVK_TIMEOUT": "timeout_seconds",
    "CLINVK_MODEL": "model",
}


class Settings:
    """Resolved configuration with the source of every value. (A plain class: a dataclass
    costs its creation at every start, before a turn's backend is spawned.)"""

    def __init__(self, values: dict[str, Any], sources: dict[str, str], home: str | Path,
                 config_path: str | Path, config_exists: bool, model_override: str | None = None,
                 warnings: list[str] | None = None) -> None:
        self.values, self.sources, self.home_text = values, sources, str(home)
        self._config_path, self.config_exists = config_path, config_exists
        self.model_override = model_override
        self.warnings: list[str] = [] if warnings is None else warnings

    @property
    def home(self) -> Path:
        """clinvk's home folder ($CLINVK_HOME)."""
        from pathlib import Path

        return Path(self.home_text)

    @property
    def config_path(self) -> Path:
        from pathlib import Path

        return Path(self._config_path)

    def get(self, dotted: str) -> Any:
        node: Any = self.values
        for part in dotted.split("."):
            node = node[part]
        return node

    def source(self, dotted: str) -> str:
        return self.sources.get(dotted, "default")

    def backend_names(self) -> list[str]:
        return [n for n, b in self.values["backends"].items() if b.get("enabled", True)]

    def backend(self, name: str) -> dict[str, Any]:
        """The settings of one backend; unknown or disabled → ConfigError."""
        conf = self.values["backends"].get(name)
        if conf is None:
            known = ", ".join(self.backend_names())
            raise ConfigError(f"unknown backend '{name}' (known: {known})")
        if not conf.get("enabled", True):
            raise ConfigError(f"backend '{name}' is disabled in {self.config_path}")
        return conf

    def adapter_name(self, name: str) -> str:
        conf = self.backend(name)
        return conf.get("adapter") or name

    def flat(self) -> list[tuple[str, Any, str]]:
        """(dotted key, value, source) for every setting, for `config show`."""
        rows: list[tuple[str, Any, str]] = []
        _flatten(self.values, "", rows, self.sources)
        if self.model_override is not None:
            rows.append(("model", self.model_override, self.source("model")))
        return rows


def _flatten(node: dict[str, Any], prefix: str, rows: list, sources: dict[str, str]) -> None:
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "env":  # an empty map (prices: {}) shows as {}
            _flatten(value, dotted + ".", rows, sources)
        else:
            rows.append((dotted, value, sources.get(dotted, "default")))


def resolve_config_path(flag: str | None, environ: Mapping[str, str], home: str) -> tuple[str, str]:
    """The config file (as a string: no pathlib before a turn's spawn) and where it was named."""
    if flag:
        return os.path.expanduser(flag), "--config"
    if environ.get("CLINVK_CONFIG"):
        return os.path.expanduser(environ["CLINVK_CONFIG"]), "CLINVK_CONFIG"
    return os.path.join(home, "config.yaml"), "default"  # paths.default_config_path


def load(
    environ: Mapping[str, str],
    config_flag: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    keep: bool = True,
) -> Settings:
    """Resolve settings from defaults, the config file, CLINVK_* variables and flag overrides.
    `keep`: the parsed file may be kept in $CLINVK_HOME (clinvk.config_cache)."""
    home = paths.clinvk_home_text(environ)
    path, path_source = resolve_config_path(config_flag, environ, home)
    values = _copied(DEFAULTS)
    sources: dict[str, str] = {}
    warnings: list[str] = []
    exists = _apply_file(values, sources, warnings, path, required=path_source != "default",
                         home=home, keep=keep)
    model = _apply_env(values, sources, environ)
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        if dotted == "model":
            model = value
            sources["model"] = "flag"
            continue
        _set(values, dotted, value)
        sources[dotted] = "flag"
    return Settings(values, sources, home, path, exists, model, warnings)


def _copied(node: Any) -> Any:
    """A deep copy of the defaults (dicts, lists, scalars): copy.deepcopy, without importing
    `copy` (and `weakref`) before a turn's spawn."""
    if isinstance(node, dict):
        return {key: _copied(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copied(value) for value in node]
    return node


def _as_path(name: str) -> Path:
    """The config file's name as a Path (and printed as one), once there is a file to name."""
    from pathlib import Path

    return Path(name)


def _apply_file(values: dict, sources: dict, warnings: list, name: str, required: bool,
                home: str, keep: bool) -> bool:
    """Merge the config file `name` in (False: there is none); its parsed copy is read from
    `home`, and kept there unless not `keep` (--ephemeral, --dry-run)."""
    from clinvk import config_cache

    try:
        with open(name, encoding="utf-8") as fh:  # as Path.read_text
            st = os.fstat(fh.fileno())
            cached = config_cache.read(home, name, st)
            text = "" if cached is not None else fh.read()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {_as_path(name)} does not exist") from None
        return False
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {_as_path(name)}: {exc}") from None
    if cached is not None:
        data, shown = cached
    else:
        shown = str(_as_path(name))
        data = _parsed(text, shown)
        if keep:
            config_cache.write(home, name, st, data, shown)
    if data is None:
        return True
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: expected a mapping of keys at the top level")
    _merge_file(values, sources, warnings, data, shown)
    return True


def _parsed(text: str, path: str) -> Any:
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


def _merge_file(values: dict, sources: dict, warnings: list, data: dict, path: str) -> None:
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
                _set(values, dotted, subval)
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


def _apply_env(values: dict, sources: dict, environ: Mapping[str, str]) -> str | None:
    model = None
    for var, dotted in ENV_VARS.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        if dotted == "model":
            model = raw
        elif dotted == "timeout_seconds":
            from clinvk.durations import SECONDS_HINT, seconds

            try:
                number = seconds(raw)
            except ValueError as exc:
                raise ConfigError(f"{var}={raw!r} ({exc}): {SECONDS_HINT}") from None
            values[dotted] = int(number) if raw.strip().isdigit() else number
        else:
            values[dotted] = raw
        sources[dotted] = f"env {var}"
    return model


def _set(values: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def example_text() -> str:
    """The documented example configuration shipped with clinvk."""
    from pathlib import Path

    return (Path(__file__).parent / "config.example.yaml").read_text(encoding="utf-8")

"""Settings: defaults < config file < CLINVK_* variables < flags, remembering each value's source."""

from __future__ import annotations

import os
from stat import S_ISFIFO, S_ISREG

from clinvk import paths
from clinvk.config_defaults import DEFAULTS, set_value
from clinvk.errors import ConfigError

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:  # neither typing nor pathlib is imported before a turn's backend is spawned
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any


MAX_CONFIG_CHARS = 1_000_000  # a config file is a few hundred bytes; /dev/zero is endless

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
        set_value(values, dotted, value)
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
    from clinvk import config_cache, config_file

    try:
        with open(name, encoding="utf-8") as fh:  # as Path.read_text
            st = os.fstat(fh.fileno())
            if not (S_ISREG(st.st_mode) or S_ISFIFO(st.st_mode)):  # FIFO: --config <(...)
                raise ConfigError(f"config file {_as_path(name)} is not a file")
            cached = config_cache.read(home, name, st)
            text = "" if cached is not None else fh.read(MAX_CONFIG_CHARS + 1)
            if len(text) > MAX_CONFIG_CHARS:
                raise ConfigError(f"config file {_as_path(name)} is larger than "
                                  f"{MAX_CONFIG_CHARS:,} characters")
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
        data = config_file.parsed(text, shown)
        if keep:
            config_cache.write(home, name, st, data, shown)
    if data is None:
        return True
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: expected a mapping of keys at the top level")
    config_file.merge(values, sources, warnings, data, shown)
    return True


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


def example_text() -> str:
    """The documented example configuration shipped with clinvk."""
    from pathlib import Path

    return (Path(__file__).parent / "config.example.yaml").read_text(encoding="utf-8")

"""`clinvk config show|path|init`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, pass_app
from clinvk.display import printable
from clinvk.errors import StoreError


@click.group("config")
@common_options
def config() -> None:
    """Show the effective configuration, the file in use, or write an example file."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@common_options
@pass_app
def show(app: App, as_json: bool) -> int:
    """Print every setting with its value and where it came from."""
    settings = app.settings
    rows = [(k, masked(k, v), s) for k, v, s in settings.flat()]
    if as_json:
        emit_json(app, {"config_file": str(settings.config_path), "home": str(settings.home),
                        "settings": {k: {"value": v, "source": s} for k, v, s in rows}})
        return 0
    out = app.env.stdout
    state = "" if settings.config_exists else " (not present)"
    out.write(printable(f"# config file: {settings.config_path}{state}") + "\n"
              + printable(f"# home: {settings.home}") + "\n")
    width = max(len(k) for k, _, _ in rows)
    for key, value, source in rows:
        out.write(printable(f"{key:<{width}}  {json.dumps(value, ensure_ascii=False):<24}  "
                            f"# {source}") + "\n")
    return 0


def masked(key: str, value: object) -> object:
    """The value `config show` prints: those of `backends.NAME.env` (API keys) masked."""
    if not (key.startswith("backends.") and key.endswith(".env") and isinstance(value, dict)):
        return value
    return {name: _mask(str(text)) for name, text in value.items()}


def _mask(text: str) -> str:
    """`****` and, for a value long enough that they give nothing away, its last 4 characters."""
    if not text:
        return text
    return "****" + (text[-4:] if len(text) >= 16 else "")


@config.command("path")
@common_options
@pass_app
def path(app: App) -> int:
    """Print the path of the config file in use (it may not exist yet)."""
    app.env.stdout.write(printable(app.settings.config_path) + "\n")
    return 0


def _config_path(app: App) -> Path:
    """The config file named by --config, CLINVK_CONFIG or the default, without reading it:
    `init` makes it (the settings refuse a file named explicitly that does not exist)."""
    from clinvk.config import resolve_config_path
    from clinvk.paths import clinvk_home_text

    environ = app.env.environ
    return Path(resolve_config_path(app.config_flag, environ, clinvk_home_text(environ))[0])


@config.command("init")
@common_options
@pass_app
def init(app: App) -> int:
    """Write the documented example configuration to the config path, unless a file exists."""
    from clinvk.config import example_text

    target = _config_path(app)
    if target.exists():
        app.env.stderr.write(printable(f"clinvk: {target} exists already; left unchanged") + "\n")
        return 0
    try:  # 0600 in a folder of 0700 when clinvk makes it: the file may hold API keys (env:)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fd, 0o600)
            fh.write(example_text())
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from None
    app.env.stdout.write(printable(f"wrote {target}") + "\n")
    return 0

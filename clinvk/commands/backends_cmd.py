"""`clinvk backends`: which backend CLIs are installed, where, and which version."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, pass_app
from clinvk.display import printable


def probe(name: str, conf: dict, environ: dict) -> dict:
    """Look one backend up on PATH and ask it for its version."""
    from clinvk.backends import get_adapter

    adapter = get_adapter(conf.get("adapter") or name)
    path = shutil.which(conf["command"], path=environ.get("PATH"))
    info = {"name": name, "command": conf["command"], "installed": path is not None,
            "path": path, "version": None, "install_hint": adapter.install_hint}
    if path:
        try:
            done = subprocess.run(adapter.version_argv(path), capture_output=True, text=True,
                                  timeout=15, env={**environ, **conf.get("env", {})},
                                  stdin=subprocess.DEVNULL)
            lines = (done.stdout or done.stderr).strip().splitlines()
            info["version"] = lines[0].strip() if lines else None
        except (OSError, subprocess.TimeoutExpired):
            info["version"] = None
    return info


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@common_options
@pass_app
def backends(app: App, as_json: bool) -> int:
    """List each backend: installed or not, path, version."""
    settings = app.settings
    names = settings.backend_names()
    environ = dict(app.env.environ)
    with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        rows = list(pool.map(lambda n: probe(n, settings.backend(n), environ), names))
    if as_json:
        emit_json(app, rows)
        return 0
    out = app.env.stdout
    for row in rows:
        if row["installed"]:
            out.write(printable(f"{row['name']:<8} installed  "
                                f"{row['version'] or '(version unknown)':<28} {row['path']}") + "\n")
        else:
            out.write(printable(f"{row['name']:<8} missing    `{row['command']}` not on PATH; "
                                f"install: {row['install_hint']}") + "\n")
    return 0

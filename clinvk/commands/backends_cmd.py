"""`clinvk backends`: which backend CLIs are installed, where, and which version."""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import click

from clinvk.app import App
from clinvk.backends.versions import is_tested, range_text
from clinvk.commands import common_options, emit_json, pass_app
from clinvk.display import printable


def probe(name: str, conf: dict, environ: dict) -> dict:
    """Look one backend up on PATH and ask it for its version."""
    from clinvk.backends import get_adapter

    kind = conf.get("adapter") or name
    adapter = get_adapter(kind)
    path = shutil.which(conf["command"], path=environ.get("PATH"))
    info = {"name": name, "command": conf["command"], "installed": path is not None,
            "path": path, "version": None, "install_hint": adapter.install_hint,
            "tested_versions": range_text(kind), "version_tested": None}
    if path:
        try:
            done = subprocess.run(adapter.version_argv(path), capture_output=True, text=True,
                                  timeout=15, env={**environ, **conf.get("env", {})},
                                  stdin=subprocess.DEVNULL)
            lines = (done.stdout or done.stderr).strip().splitlines()
            info["version"] = lines[0].strip() if lines else None
        except (OSError, subprocess.TimeoutExpired):
            info["version"] = None
        info["version_tested"] = is_tested(kind, info["version"])
    return info


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@common_options
@pass_app
def backends(app: App, as_json: bool) -> int:
    """List each backend: installed or not, path, version.

    Also the versions clinvk was tested with, and a warning on stderr for an installed
    version outside them, and for a backend that deletes its own transcripts sooner than
    session.retention_days (installed backends only)."""
    settings = app.settings
    names = settings.backend_names()
    environ = dict(app.env.environ)
    with ThreadPoolExecutor(max_workers=len(names) or 1) as pool:
        rows = list(pool.map(lambda n: probe(n, settings.backend(n), environ), names))
    from clinvk.retention import shorter_backend_retention

    installed = [row["name"] for row in rows if row["installed"]]
    for warning in shorter_backend_retention(settings, environ, installed):
        app.env.warn(warning)
    for row in rows:
        if row["version_tested"] is False:
            app.env.warn(f"{row['name']} {row['version']} is not a version clinvk was tested "
                         f"with ({row['tested_versions']}); usage figures may be incomplete")
    if as_json:
        emit_json(app, rows)
        return 0
    out = app.env.stdout
    for row in rows:
        if row["installed"]:
            tested = f"tested {row['tested_versions']}" if row["tested_versions"] else ""
            out.write(printable(f"{row['name']:<8} installed  {row['version'] or '(version unknown)':<28} "
                                f"{tested:<24} {row['path']}") + "\n")
        else:
            out.write(printable(f"{row['name']:<8} missing    `{row['command']}` not on PATH; "
                                f"install: {row['install_hint']}") + "\n")
    return 0

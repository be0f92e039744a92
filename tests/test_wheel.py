"""The wheel runs: built from this checkout, installed into a fresh virtual environment outside
it, it migrates a database and answers /readyz with nothing from the checkout on its path.

Installing every dependency from the registry into the fresh environment would take minutes, so
the wheel goes in with --no-deps and a `.pth` file makes this environment's site-packages
visible. A plain path line in a `.pth` does not run that directory's own `.pth` files, so the
checkout's editable-install hook stays out: the test checks that `bot` comes from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from packaging.requirements import Requirement

from bot.core.migrate import alembic_config

CHECKOUT = Path(__file__).resolve().parents[1]
# Not sources of the wheel: left out of the copy it is built from (`.env` holds secrets).
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    "*.db",
    "*.db-*",
    ".env",
    "docs",
)
# What the installed app reports about itself, run by the fresh environment's interpreter.
PROBE = """
import json, sys
import app, bot, cards, dialogs, manifest, migrations, protocols
from bot.core.migrate import SCRIPTS
from bot.core.protocols import BUILT_IN
from bot.core.settings import PROJECT_ROOT
from cards.binder import TEMPLATES
from manifest.pack import TEMPLATE
modules = (app, bot, cards, dialogs, manifest, migrations, protocols)
print(json.dumps({
    "files": {module.__name__: module.__file__ for module in modules},
    "path": sys.path,
    "protocols": sorted(path.name for path in BUILT_IN.glob("*.toml")),
    "templates": sorted(path.name for path in TEMPLATES.glob("*.json")),
    "revisions": sorted(path.name for path in (SCRIPTS / "versions").glob("0*.py")),
    "manifest_template": TEMPLATE.is_file(),
    "project_root": str(PROJECT_ROOT),
}))
"""
STEP_TIMEOUT = 120  # seconds; each step takes a few
# This environment's site-packages, lent to the fresh one for the wheel's dependencies.
DEPENDENCIES = list(dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]))


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _isolation_options() -> list[str]:
    """Builds with this environment's backend when it meets [build-system] (no network);
    otherwise pip fetches the backend into an isolated build environment."""
    pyproject = tomllib.loads((CHECKOUT / "pyproject.toml").read_text(encoding="utf-8"))
    for line in pyproject["build-system"]["requires"]:
        requirement = Requirement(line)
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            return []
        if not requirement.specifier.contains(installed, prereleases=True):
            return []
    return ["--no-build-isolation"]


def _build_wheel(work: Path) -> Path:
    # Built from a copy: pip builds in the source tree, and the checkout is shared.
    source = work / "source"
    shutil.copytree(CHECKOUT, source, ignore=NOT_SOURCES)
    dist = work / "dist"
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--quiet",
        *_isolation_options(),
        "--wheel-dir",
        dist,
        source,
        cwd=work,
    )
    shutil.rmtree(source)
    (wheel,) = dist.glob("*.whl")
    return wheel


def _fresh_environment(work: Path, wheel: Path) -> Path:
    """A new virtual environment holding the wheel; returns its interpreter."""
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    python = venv / "bin" / "python"
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "--quiet",
        wheel,
        cwd=work,
    )
    site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=work
        ).strip()
    )
    (site / "dependencies_of_the_test_environment.pth").write_text("\n".join(DEPENDENCIES) + "\n")
    return python


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthz(url: str, server: subprocess.Popen[bytes], log: Path) -> tuple[int, dict]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the app exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())
        except OSError:
            time.sleep(0.2)  # not listening yet
    raise AssertionError(f"no answer from {url}:\n{log.read_text()}")


def test_the_wheel_installs_migrates_and_serves_outside_the_checkout(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    python = _fresh_environment(tmp_path, wheel)
    venv = python.parent.parent
    run = tmp_path / "run"
    run.mkdir()

    report = json.loads(_run(python, "-c", PROBE, cwd=run, env={}))
    for name, file in report["files"].items():
        assert Path(file).is_relative_to(venv), f"{name} comes from {file}, not the wheel"
    # The only entries from the checkout are the dependencies lent from its .venv, if it has one.
    from_checkout = {e for e in report["path"] if e and Path(e).is_relative_to(CHECKOUT)}
    assert from_checkout <= set(DEPENDENCIES), from_checkout
    assert report["protocols"] == sorted(p.name for p in (CHECKOUT / "protocols").glob("*.toml"))
    templates = sorted(p.name for p in (CHECKOUT / "cards" / "templates").glob("*.json"))
    assert report["templates"] == templates
    revisions = sorted(p.name for p in (CHECKOUT / "migrations" / "versions").glob("0*.py"))
    assert report["revisions"] == revisions
    assert report["manifest_template"]
    # No checkout: `.env` and the default SQLite file are looked for in the working directory.
    assert report["project_root"] == "."

    database = run / "bot.db"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "HOST": "127.0.0.1",
        "PORT": str(_free_port()),
    }
    bin_dir = python.parent
    _run(bin_dir / "reflective-practice-migrate", cwd=run, env=env)
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
    # The operator commands come with the wheel too.
    purge = _run(bin_dir / "reflective-practice-purge", "--dry-run", cwd=run, env=env)
    assert "Nothing is past its retention period." in purge
    rotation = _run(bin_dir / "reflective-practice-rotate-keys", "--dry-run", cwd=run, env=env)
    assert "Every value is under the only key in ENCRYPTION_KEYS" in rotation, rotation

    log = tmp_path / "app.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(bin_dir / "reflective-practice-bot")],
            cwd=run,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        status, body = _healthz(f"http://127.0.0.1:{env['PORT']}/readyz", server, log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert (status, body) == (200, {"database": "ok"}), log.read_text()

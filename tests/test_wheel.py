"""The deployable unit runs: `make dist`'s zip, built from this checkout and installed the way
App Service's build step does (its requirements.txt, into a fresh virtual environment outside
the checkout), migrates a database and answers /readyz through its startup command with nothing
from the checkout on its path, and stops cleanly on SIGTERM.

Installing every dependency from the registry into the fresh environment would take minutes, so
the wheel goes in with --no-deps and a `.pth` file makes this environment's site-packages
visible. A plain path line in a `.pth` does not run that directory's own `.pth` files, so the
checkout's editable-install hook stays out: the test checks that `bot` comes from the wheel.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from importlib import metadata
from pathlib import Path

from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from packaging.requirements import Requirement

from bot.core.migrate import alembic_config
from infra import deploy_package

CHECKOUT = Path(__file__).resolve().parents[1]
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


def _unpacked_deploy_zip(work: Path) -> Path:
    """`make dist`'s zip, built here and unpacked as App Service's wwwroot."""
    package = deploy_package.build(CHECKOUT, work / "build" / "deploy.zip", _isolation_options())
    wwwroot = work / "wwwroot"
    with zipfile.ZipFile(package) as unzipped:
        unzipped.extractall(wwwroot)
    return wwwroot


def _fresh_environment(work: Path, wwwroot: Path) -> Path:
    """A new virtual environment with the zip's requirements.txt installed (the wheel itself:
    its dependencies are lent, see above); returns its interpreter."""
    venv = work / "antenv"
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
        "-r",
        "requirements.txt",
        cwd=wwwroot,
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


def test_the_deploy_zip_installs_migrates_serves_and_stops_outside_the_checkout(
    tmp_path: Path,
) -> None:
    wwwroot = _unpacked_deploy_zip(tmp_path)
    assert sorted(path.name for path in wwwroot.iterdir() if path.suffix != ".whl") == [
        "constraints.txt",
        "requirements.txt",
    ]
    python = _fresh_environment(tmp_path, wwwroot)
    venv = python.parent.parent
    run = wwwroot

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
            [str(python), *deploy_package.STARTUP_COMMAND.split()[1:]],
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
            stopped = server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            raise
    assert (status, body) == (200, {"database": "ok", "schema": "current"}), log.read_text()
    assert stopped == 0, log.read_text()  # SIGTERM is a clean stop, not a crash

"""Builds the deployable unit for App Service: `make dist` (python infra/deploy_package.py).

The zip holds the app's wheel, a requirements.txt that installs it with the versions this
release was tested with (constraints.txt), and nothing else: App Service's build step (Oryx,
SCM_DO_BUILD_DURING_DEPLOYMENT=true) installs it into a virtual environment and the startup
command, `python -m app`, runs the installed app. No source tree is deployed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
# Not sources of the wheel: left out of the copy it is built from (`.env` holds secrets).
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv*",
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
    "tests",
    "bench",
)
STARTUP_COMMAND = "python -m app"


def build_wheel(source: Path, dist: Path, pip_options: list[str]) -> Path:
    """Builds from a clean copy: pip builds in the source tree, and a checkout is shared."""
    with tempfile.TemporaryDirectory(prefix="rp-wheel-") as work:
        copy = Path(work) / "source"
        shutil.copytree(source, copy, ignore=NOT_SOURCES)
        dist.mkdir(parents=True, exist_ok=True)
        for old in dist.glob("*.whl"):
            old.unlink()
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", *pip_options]
            + ["--wheel-dir", str(dist), str(copy)],
            check=True,
        )
    (wheel,) = dist.glob("*.whl")
    return wheel


def requirements_for(wheel: Path) -> str:
    return (
        "# Installs the app's wheel with the versions it was tested with.\n"
        "-c constraints.txt\n"
        f"./{wheel.name}\n"
    )


def build_zip(wheel: Path, constraints: Path, output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.write(wheel, wheel.name)
        package.write(constraints, "constraints.txt")
        package.writestr("requirements.txt", requirements_for(wheel))
    return output


def build(source: Path, output: Path, pip_options: list[str] | None = None) -> Path:
    wheel = build_wheel(source, output.parent / "dist", pip_options or [])
    return build_zip(wheel, source / "constraints.txt", output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, nargs="?", default=CHECKOUT / "build" / "deploy.zip")
    arguments = parser.parse_args()
    built = build(CHECKOUT, arguments.output)
    print(f"{built} (startup command: {STARTUP_COMMAND})")


if __name__ == "__main__":
    main()

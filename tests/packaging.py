"""Building the distributions and installing them as users do, for the packaging tests.

From this repository's files, resolving against the index like a user's install (never
`--offline`: that sees only what uv's cache happens to hold, and a clean machine's holds
nothing; the cache still makes a warm run fast).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"constructs": ROOT / "packaging" / "constructs", "django": ROOT / "packaging" / "django"}
DISTRIBUTIONS = {"constructs": "cloud_background_work_constructs", "django": "cloud_background_work_django"}
INSTALL_SECONDS = 300
# What the tests' own process sets for its Django, and what points at this repository's
# environment: a user's shell has none of it.
NOT_A_USERS = ("DJANGO_", "CLOUD_TASKS_", "PYTHONPATH", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")


def uv(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    uv_path = shutil.which("uv")
    assert uv_path, "uv is not on PATH"
    done = subprocess.run([uv_path, *args], capture_output=True, text=True, timeout=INSTALL_SECONDS,
                          env={**os.environ, **(env or {})}, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def build_wheels(out: Path) -> dict[str, Path]:
    """A wheel of each distribution, built into `out`, by name ("constructs", "django")."""
    wheels = {}
    for name, package in PACKAGES.items():
        uv("build", "--wheel", "--quiet", "--out-dir", str(out), str(package))
        [wheels[name]] = out.glob(f"{DISTRIBUTIONS[name]}-*.whl")
    return wheels


def new_environment(path: Path, wheel: Path | str) -> Path:
    """A new virtual environment at `path` with `wheel` installed (with extras:
    "WHEEL[extra]"), its dependencies from the index; its Python."""
    uv("venv", "--quiet", "--python", sys.executable, str(path))
    python = path / "bin" / "python"
    uv("pip", "install", "--quiet", "--python", str(python), str(wheel), cwd=path)
    return python


def users_shell(**variables: str) -> dict[str, str]:
    """The environment of a user's shell: none of the tests' own settings, plus `variables`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(NOT_A_USERS)}, **variables}

"""The Dockerfile's image, simulated without a container engine.

- Dependencies: the Dockerfile's own `uv sync` line, run on what the Dockerfile copies
  before it (pyproject.toml, uv.lock and the app's distribution, packaging/django), into
  a new virtualenv (as the image's /app/.venv); then that copy is removed, as the final
  image holds none of it.
- The app: django_project copied beside the virtualenv (as the image's /app and
  /app/.venv), then the Dockerfile's own RUN line that follows that COPY run there (the
  static files collected, everything compiled to bytecode), then all of it made read-only.
- The user: the image's (uid 10001) when the tests run as root; otherwise the current
  user, who cannot be anybody else, with the app read-only to it too.
- The environment: only what the Dockerfile's ENV sets, plus what a test passes, as
  Cloud Run gives a container only the image's environment and the service's.

The image's user must reach the Python interpreter. Where it lives under a directory
closed to others (pyenv in root's home), a hard-linked copy of it is made beside the
app, as the image has its own Python in /usr/local.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
IMAGE_UID = 10001  # the Dockerfile's USER
INSTALL_TIMEOUT_SECONDS = 300
# The Dockerfile's ENV, but PATH, which run() makes the virtualenv's first.
IMAGE_ENV = {"PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "config.settings", "PORT": "8080"}


APP_COPY = "COPY django_project/ ./"  # the Dockerfile's line that copies the app in
# What .dockerignore leaves out of the build context stays out.
NOT_IN_CONTEXT = shutil.ignore_patterns("__pycache__", "*.sqlite3", "staticfiles")


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, one string each: comments left out, and lines that
    end with a backslash joined to the next, as Docker reads them."""
    instructions, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not (current or line.strip()):
            continue
        if line.endswith("\\"):
            current += line[:-1]
            continue
        instructions.append(current + line)
        current = ""
    return instructions


def dockerfile_lines(prefix: str) -> list[str]:
    return [line.removeprefix(prefix) for line in dockerfile_instructions() if line.startswith(prefix)]


def web_command() -> list[str]:
    """The final CMD of the Dockerfile, which must be in exec (JSON) form."""
    *_, cmd = dockerfile_lines("CMD ")
    return json.loads(cmd)


def dependency_install_command() -> list[str]:
    """The Dockerfile's `RUN uv sync ...`: how the image installs its dependencies."""
    [install] = [line for line in dockerfile_lines("RUN ") if line.startswith("uv sync ")]
    return shlex.split(install)


def dependency_copies() -> list[tuple[list[str], str]]:
    """What the Dockerfile copies from the build context before its `uv sync`: the
    sources and the destination (relative to the WORKDIR) of each COPY."""
    instructions = dockerfile_instructions()
    [install] = [at for at, line in enumerate(instructions) if line.startswith("RUN uv sync ")]
    copies = []
    for line in instructions[:install]:
        if line.startswith("COPY ") and "--from=" not in line:
            *sources, destination = shlex.split(line.removeprefix("COPY "))
            copies.append((sources, destination))
    return copies


def app_build_command() -> str:
    """The Dockerfile's RUN right after it copies the app in, a shell line (Docker runs
    it with /bin/sh -c in the WORKDIR, /app)."""
    instructions = dockerfile_instructions()
    following = instructions[instructions.index(APP_COPY) + 1]
    if not following.startswith("RUN "):
        raise ValueError(f"the Dockerfile's {APP_COPY!r} is not followed by a RUN but by {following!r}")
    return following.removeprefix("RUN ")


@dataclass
class SimulatedImage:
    root: Path  # everything below is in here; remove() deletes it
    app: Path
    venv: Path
    user_args: dict[str, Any] = field(default_factory=dict)  # Popen arguments: run as the image's user
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **variables: str) -> dict[str, str]:
        return {
            "PATH": f"{self.venv / 'bin'}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
            **IMAGE_ENV, **self.extra_env, **variables,
        }

    def run(self, argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=self.app, env=env, capture_output=True, text=True, timeout=timeout, **self.user_args
        )

    def start(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            argv, cwd=self.app, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            **self.user_args,
        )


def build() -> SimulatedImage:
    root = Path(tempfile.mkdtemp(prefix="tests-image-"))
    try:
        root.chmod(0o755)  # the image's user must reach the app and the virtualenv
        image = SimulatedImage(root=root, app=root / "app", venv=root / "app" / ".venv")
        python = Path(sys.base_prefix)
        if os.geteuid() == 0:
            image.user_args = {"user": IMAGE_UID, "group": IMAGE_UID, "extra_groups": []}
            if not _reachable_by_others(python):
                python = _linked_copy(python, root / "python")
                image.extra_env["LD_LIBRARY_PATH"] = str(python / "lib")  # its libpython, not the original's
        _install_dependencies(image.venv, python / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}", root)
        shutil.copytree(REPO / "django_project", image.app, dirs_exist_ok=True, ignore=NOT_IN_CONTEXT)
        _build_app(image)
        _read_only(image.app)
        return image
    except BaseException:
        remove_tree(root)
        raise


def remove_tree(root: Path) -> None:
    for directory, _, _ in os.walk(root):
        os.chmod(directory, 0o755)  # read-only directories cannot be emptied
    shutil.rmtree(root, ignore_errors=True)


def _install_dependencies(venv: Path, python: Path, root: Path) -> None:
    source = root / "src"  # the Dockerfile's WORKDIR /src, with what it copies there
    source.mkdir()
    for sources, destination in dependency_copies():
        for name in sources:
            if (REPO / name).is_dir():
                shutil.copytree(REPO / name, source / destination, dirs_exist_ok=True, ignore=NOT_IN_CONTEXT)
            else:
                (source / destination).mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, source / destination / Path(name).name)
    environment = {
        **os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": str(python),
        "UV_PYTHON_DOWNLOADS": "never", "UV_LINK_MODE": "copy",
    }
    environment.pop("VIRTUAL_ENV", None)
    installed = subprocess.run(
        dependency_install_command(), cwd=source, env=environment, capture_output=True, text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )
    if installed.returncode != 0:
        raise RuntimeError(f"installing the image's dependencies failed:\n{installed.stdout}{installed.stderr}")
    # The final image copies the virtualenv alone: nothing installed may lead back here.
    shutil.rmtree(source)


def _build_app(image: SimulatedImage) -> None:
    """The Dockerfile's RUN after the app's COPY, as the build runs it: in the app's
    directory, with the image's environment so far, before USER (as whoever runs the tests)."""
    built = subprocess.run(
        ["/bin/sh", "-c", app_build_command()], cwd=image.app, env=image.env(), capture_output=True, text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )
    if built.returncode != 0:
        raise RuntimeError(f"building the image's app failed:\n{built.stdout}{built.stderr}")


def _reachable_by_others(path: Path) -> bool:
    return all(os.stat(part).st_mode & stat.S_IXOTH for part in [path, *path.parents])


def _linked_copy(source: Path, target: Path) -> Path:
    # Hard links cost no space and no time; across file systems, copy.
    if subprocess.run(["cp", "-al", source, target], capture_output=True).returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, symlinks=True)
    return target


def _read_only(tree: Path) -> None:
    """Take every write bit off, as root-owned files are to the image's user."""
    for directory, _, files in os.walk(tree):
        for path in [directory, *(os.path.join(directory, name) for name in files)]:
            if not os.path.islink(path):  # a link's target is not the app's (the interpreter)
                os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) & ~0o222)

"""The Dockerfile: it lints clean, and the web command it runs serves the health endpoint.

No container engine is needed: the web command is read from the Dockerfile's CMD and run
as the image runs it, from the directory the image copies django_project into.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.django.loopback import free_port

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
VENV_BIN = Path(sys.executable).parent  # the image puts its virtualenv's bin first on PATH
STARTUP_SECONDS = 30


def web_command() -> list[str]:
    """The final CMD of the Dockerfile, which must be in exec (JSON) form."""
    [*_, cmd] = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD ")]
    return json.loads(cmd.removeprefix("CMD "))


def get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None  # not listening yet


def test_dockerfile_passes_hadolint():
    lint = subprocess.run(
        [VENV_BIN / "hadolint", DOCKERFILE], cwd=REPO, capture_output=True, text=True, timeout=60
    )

    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_web_command_serves_the_health_endpoint():
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "PORT"}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}",
        # Cloud Run gives PORT and gunicorn binds 0.0.0.0:$PORT; here, loopback only.
        GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{port}",
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
    )
    server = subprocess.Popen(
        web_command(), cwd=REPO / "django_project", env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        status = None
        while status is None and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            status = get_status(f"http://127.0.0.1:{port}/healthz")
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=10)

    assert status == 200, f"health endpoint answered {status}; gunicorn said:\n{errors}"

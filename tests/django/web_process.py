"""The web service's command, gunicorn with config/gunicorn.py, in a process of its own on
a loopback port: for tests that kill it, or stop it as Cloud Run stops an instance."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from cloudtasks.config import env

PROJECT = Path(__file__).resolve().parents[2] / "django_project"
STARTUP_SECONDS = 30


class WebProcess:
    def __init__(
        self, port: int, variables: Mapping[str, str], *, gunicorn_args: str = "", app: str = "config.wsgi",
        log: Path | None = None, project: Path = PROJECT,
    ) -> None:
        """`app`: the module gunicorn serves (config.asgi with `--worker-class asgi`);
        `log`: a file for the server's output (its log lines), else it is dropped;
        `project`: the django_project directory to serve (another version's, for a benchmark)."""
        self.port = port
        self.app = app
        self.log = log
        self.project = project
        self.url = f"http://127.0.0.1:{port}"
        self.environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.django.subprocess_settings",
            "PYTHONPATH": str(project.parent),
            env.ALLOWED_HOSTS: "127.0.0.1",
            "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port} --workers 2 {gunicorn_args}",
            **variables,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") if self.log else contextlib.nullcontext(subprocess.DEVNULL) as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config", "python:config.gunicorn", self.app],
                cwd=self.project, env=self.environment, stdout=output, stderr=output,
                start_new_session=True,  # its own process group: kill() ends the workers too
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with status {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not serve within {STARTUP_SECONDS}s")

    def kill(self) -> None:
        """SIGKILL to the server and its workers: nothing of them runs on."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def terminate(self) -> float:
        """SIGTERM to the server, as Cloud Run stops an instance; the seconds until it exited."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.kill()


def local_run_server(settings, database_url: str, emulator, key_file: Path, queue: str, *, gunicorn_args: str = "",
                     **variables: str) -> WebProcess:
    """gunicorn (not started yet) serving the project as a local run's process on
    `database_url`, both queue names on `queue` of `emulator`; the test's `settings` made
    to match, so that tasks enqueued in the test are pushed to it. `variables`: more of
    its environment."""
    from tests.django.backend_settings import queues_variable
    from tests.django.conftest import configure_local_run, local_run_variables
    from tests.django.loopback import free_port

    port = free_port()
    queues = {"default": queue, "long": queue}
    server = WebProcess(port, local_run_variables(
        emulator.address, key_file,
        **{env.DATABASE_URL: database_url, env.QUEUES: queues_variable(queues),
           env.HANDLER_URL: f"http://127.0.0.1:{port}/tasks/run/", **variables},
    ), gunicorn_args=gunicorn_args)
    configure_local_run(settings, server.url, emulator.address, key_file, queues)
    return server

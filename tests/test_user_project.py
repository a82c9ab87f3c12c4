"""A project of a user's own, on the Django wheel, as docs/using-in-your-project.md says.

The wheel goes into a new virtual environment, dependencies from the index; `django-admin
startproject` makes the project, outside this repository, and the guide's code blocks
(`<!-- guide: ... -->`) are written into it as they are, but for the ports. Then: check
and migrate; a task end to end through the real emulator (`manage.py
cloudtasks_emulator`), pushed back to the project's own development server and
SUCCESSFUL in `get_result`; the project's tests with Django's ImmediateBackend, and with
`cloudtasks.testing`.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packaging import ROOT, new_environment, users_shell

GUIDE = ROOT / "docs" / "using-in-your-project.md"
START_SECONDS = 180  # the emulator's first start may install it
TASK_SECONDS = 60
COMMAND_SECONDS = 180


def guide_blocks() -> dict[str, str]:
    """The guide's marked code blocks, by their mark."""
    found = re.findall(r"^<!-- guide: (.+?) -->\n```\w+\n(.*?)^```", GUIDE.read_text(), re.M | re.S)
    return dict(found)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Project:
    python: Path
    directory: Path  # where manage.py is
    web_port: int
    emulator_port: int

    def manage(self, *args: str, timeout: float = COMMAND_SECONDS, **variables: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.python), "manage.py", *args], cwd=self.directory, capture_output=True,
                              text=True, timeout=timeout, env=users_shell(**variables))

    def start(self, *args: str) -> Started:
        return Started(subprocess.Popen(
            [str(self.python), "manage.py", *args], cwd=self.directory, env=users_shell(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        ))


class Started:
    """A process started as a person starts one in a shell of their own; what it prints
    is read as it comes (so that it never blocks on a full pipe), kept for the test."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, line: str, timeout: float) -> str:
        """What it printed up to `line`; fails with all of it if `line` does not come."""
        deadline = time.monotonic() + timeout
        while line not in self.lines:
            if time.monotonic() > deadline or self.process.poll() is not None:
                time.sleep(0.5)  # the last lines
                pytest.fail(f"no {line!r} within {timeout}s; it printed:\n" + "\n".join(self.lines))
            time.sleep(0.1)
        return "\n".join(self.lines)

    def wait_for_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        pytest.fail(f"nothing served 127.0.0.1:{port} within {timeout}s; it printed:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        """Ctrl-C, as a person stops it; then SIGKILL to its session if it lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="module")
def project(wheels, tmp_path_factory) -> Project:
    home = tmp_path_factory.mktemp("user")
    python = new_environment(home / "venv", wheels["django"])
    subprocess.run([str(home / "venv" / "bin" / "django-admin"), "startproject", "mysite"], cwd=home, check=True,
                   timeout=COMMAND_SECONDS, env=users_shell())
    made = Project(python, home / "mysite", web_port=free_port(), emulator_port=free_port())
    assert made.manage("startapp", "shop").returncode == 0
    blocks = guide_blocks()
    settings = made.directory / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + blocks["settings.py, appended"])
    (made.directory / "mysite" / "urls.py").write_text(blocks["urls.py, replaced"])
    (made.directory / "shop" / "tasks.py").write_text(blocks["shop/tasks.py"])
    (made.directory / "mysite" / "test_settings.py").write_text(blocks["test_settings.py"])
    (made.directory / "shop" / "tests.py").write_text(blocks["shop/tests.py"])
    (made.directory / "shop" / "test_runner.py").write_text(blocks["shop/test_runner.py"])
    return made


def local_run(project: Project) -> None:
    """The guide's settings of a local run, on the test's own ports."""
    block = guide_blocks()["settings.py, appended for a local run"]
    block = block.replace("127.0.0.1:8000", f"127.0.0.1:{project.web_port}")
    block = block.replace("127.0.0.1:8123", f"127.0.0.1:{project.emulator_port}")
    settings = project.directory / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\n" + block)


def test_the_app_comes_from_the_wheel_with_none_of_the_infrastructure_packages(project):
    found = project.manage("shell", "-c", "import cloudtasks; print(cloudtasks.__file__)")
    cdktf = subprocess.run([str(project.python), "-c", "import cdktf"], capture_output=True, text=True, timeout=60)

    assert found.stdout.splitlines()[-1].startswith(str(project.python.parent.parent)), found.stdout + found.stderr
    assert "No module named 'cdktf'" in cdktf.stderr


def test_the_three_settings_check_and_migrate(project):
    checked = project.manage("check")
    migrated = project.manage("migrate", "--noinput")

    assert checked.returncode == 0, checked.stderr
    assert "ERROR" not in checked.stderr
    assert migrated.returncode == 0, migrated.stderr
    assert "Applying cloudtasks.0002_run_records... OK" in migrated.stdout


def test_tests_with_the_immediate_backend_check_migrate_and_pass_with_no_cloud_tasks_settings(project):
    tested = project.manage("test", "shop.tests", "--settings=mysite.test_settings", "--noinput")

    assert tested.returncode == 0, tested.stderr
    assert "Ran 1 test" in tested.stderr and "OK" in tested.stderr


def test_tests_through_the_real_runner_with_the_test_helper(project):
    tested = project.manage("test", "shop.test_runner", "--noinput")

    assert tested.returncode == 0, tested.stderr
    assert "Ran 1 test" in tested.stderr and "OK" in tested.stderr


@pytest.fixture(scope="module")
def running(project) -> Iterator[Project]:
    """The guide's local run: the settings for it, `manage.py cloudtasks_emulator` and
    `manage.py runserver`, each as a person starts them in a shell of their own."""
    local_run(project)
    assert project.manage("migrate", "--noinput").returncode == 0
    emulator = project.start("cloudtasks_emulator")
    server = project.start("runserver", f"127.0.0.1:{project.web_port}", "--noreload")
    try:
        said = emulator.wait_for_line("Ctrl-C stops the emulator.", START_SECONDS)
        server.wait_for_port(project.web_port, START_SECONDS)
        yield project, said
    finally:
        for started in (emulator, server):
            started.stop()


def test_the_emulator_serves_the_projects_queue_and_says_where_to_serve(running):
    project, said = running

    assert f"Cloud Tasks emulator at 127.0.0.1:{project.emulator_port}" in said
    assert "queue 'default' of TASKS['default']: projects/my-project/locations/europe-west1/queues/default" in said
    assert f"manage.py runserver 127.0.0.1:{project.web_port}" in said
    key = project.directory / "cloudtasks-local-key.pem"
    assert key.stat().st_mode & 0o077 == 0  # written private to its owner


def test_a_task_runs_end_to_end_through_the_emulator_back_to_the_projects_own_server(running):
    project, _ = running

    ran = project.manage("shell", "-c", guide_blocks()["manage.py shell"], timeout=TASK_SECONDS)

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().endswith("SUCCESSFUL 5")


def test_the_deployed_settings_of_the_guide_read_the_stacks_variable(project):
    check = "\n".join([
        guide_blocks()["settings.py, deployed"],
        "from cloudtasks.backend import CloudTasksBackend",
        "print(CloudTasksBackend('default', TASKS['default']).check())",
    ])
    queues = ('{"default": {"queue_path": "projects/my-project/locations/europe-west1/queues/default", '
              '"invoker_email": "tasks-invoker@my-project.iam.gserviceaccount.com"}}')

    read = subprocess.run([str(project.python), "-c", check], capture_output=True, text=True, timeout=60,
                          env=users_shell(CLOUD_TASKS_QUEUES=queues,
                                          CLOUD_TASKS_HANDLER_URL="https://shop.example.com/tasks/run/"))

    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == "[]"

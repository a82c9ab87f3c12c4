"""What people install: the constructs on their own, and the Django half without the
infrastructure packages, each into a new virtual environment.

From this repository's files, resolving against the index like a user's install (never
`--offline`: that sees only what uv's cache happens to hold, and a clean machine's holds
nothing; the cache still makes a warm run fast).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONSTRUCTS_PACKAGE = ROOT / "packaging" / "constructs"
EXAMPLE = ROOT / "docs" / "examples" / "second_queue.py"
INSTALL_SECONDS = 300


def uv(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    uv_path = shutil.which("uv")
    assert uv_path, "uv is not on PATH"
    done = subprocess.run([uv_path, *args], capture_output=True, text=True, timeout=INSTALL_SECONDS,
                          env={**os.environ, **(env or {})}, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def version(pyproject: Path) -> str:
    return tomllib.loads(pyproject.read_text())["project"]["version"]


def test_the_constructs_package_has_the_projects_version_and_the_changelog_names_it():
    project = version(ROOT / "pyproject.toml")

    assert version(CONSTRUCTS_PACKAGE / "pyproject.toml") == project
    [latest] = re.findall(r"^## \[?(\d+\.\d+\.\d+)", (ROOT / "CHANGELOG.md").read_text(), re.M)[:1]
    assert latest == project


def test_the_constructs_install_on_their_own_and_synthesize_a_new_stack(tmp_path):
    venv = tmp_path / "venv"
    uv("venv", "--quiet", "--python", sys.executable, str(venv))
    uv("pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(CONSTRUCTS_PACKAGE))
    python = str(venv / "bin" / "python")
    work = tmp_path / "my-stack"  # not the repository: constructs_lib must come from the venv
    work.mkdir()

    where = subprocess.run([python, "-c", "import constructs_lib; print(constructs_lib.__file__)"],
                           capture_output=True, text=True, cwd=work, timeout=60)
    synth = subprocess.run([python, str(EXAMPLE)], capture_output=True, text=True, cwd=work, timeout=180,
                           env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})
    django = subprocess.run([python, "-c", "import django"], capture_output=True, text=True, cwd=work, timeout=60)

    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    assert synth.returncode == 0, synth.stderr
    assert (work / "cdktf.out" / "stacks" / "two-queues" / "cdk.tf.json").exists()
    assert "No module named 'django'" in django.stderr  # none of the Django half came along


@pytest.fixture(scope="module")
def app_only(tmp_path_factory) -> Path:
    """The project's own dependencies (what the image installs), without the infra and
    dev groups: its Python."""
    venv = tmp_path_factory.mktemp("app-only") / "venv"
    uv("sync", "--frozen", "--quiet", "--no-default-groups", "--python", sys.executable,
       env={"UV_PROJECT_ENVIRONMENT": str(venv)})
    return venv / "bin" / "python"


def test_the_django_half_has_none_of_the_infrastructure_packages(app_only):
    missing = subprocess.run([app_only, "-c", "import cdktf"], capture_output=True, text=True, timeout=60)

    assert "No module named 'cdktf'" in missing.stderr


def test_the_django_app_and_its_backend_run_without_the_infrastructure_packages(app_only, tmp_path):
    env = {
        "PATH": os.environ["PATH"], "DJANGO_DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CLOUD_TASKS_QUEUES": '{"default": {"queue_path": "projects/p/locations/l/queues/q", '
                              '"invoker_email": "i@p.iam.gserviceaccount.com", "job_path": "projects/p/locations/l/jobs/j"}, '
                              '"long": {"queue_path": "projects/p/locations/l/queues/q2", '
                              '"invoker_email": "i@p.iam.gserviceaccount.com", "job_path": "projects/p/locations/l/jobs/j2"}}',
        "CLOUD_TASKS_HANDLER_URL": "https://web.example.test/tasks/run/",
    }

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([app_only, "manage.py", *args], capture_output=True, text=True, timeout=120,
                              cwd=ROOT / "django_project", env=env)

    checked, migrated = manage("check"), manage("migrate", "--noinput")
    ran = manage("run_task", "--task", "cloudtasks.tasks.flush_outbox")

    assert checked.returncode == 0, checked.stderr
    assert migrated.returncode == 0, migrated.stderr
    assert ran.returncode == 0 and "succeeded" in ran.stdout, ran.stderr

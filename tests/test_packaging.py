"""What people install: the constructs on their own, and the Django half without the
infrastructure packages, each from a wheel built here, into a new virtual environment
(tests/packaging.py). A project of a user's own, on the Django wheel: test_user_project.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.packaging import PACKAGES, ROOT, new_environment, users_shell, uv

CONSTRUCTS_README = PACKAGES["constructs"] / "README.md"


def version(pyproject: Path) -> str:
    return tomllib.loads(pyproject.read_text())["project"]["version"]


def test_both_packages_have_the_projects_version_and_the_changelog_names_it():
    project = version(ROOT / "pyproject.toml")

    assert {name: version(package / "pyproject.toml") for name, package in PACKAGES.items()} == {
        "constructs": project, "django": project,
    }
    [latest] = re.findall(r"^## \[?(\d+\.\d+\.\d+)", (ROOT / "CHANGELOG.md").read_text(), re.M)[:1]
    assert latest == project


def python_block(readme: Path) -> str:
    [block] = re.findall(r"^```python\n(.*?)^```", readme.read_text(), re.M | re.S)
    return block


def test_the_constructs_install_on_their_own_and_synthesize_the_readmes_stack(wheels, tmp_path):
    python = str(new_environment(tmp_path / "venv", f"{wheels['constructs']}[cdktf]"))
    work = tmp_path / "my-stack"  # not the repository: constructs_lib must come from the venv
    work.mkdir()
    (work / "main.py").write_text(python_block(CONSTRUCTS_README))
    # As the README says: the banner of an end-of-life Node.js, silenced for the one it runs.
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout
    silenced = users_shell(JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=node.strip().lstrip("v").split(".")[0])

    where = subprocess.run([python, "-c", "import constructs_lib; print(constructs_lib.__file__)"],
                           capture_output=True, text=True, cwd=work, timeout=60, env=users_shell())
    synth = subprocess.run([python, "main.py"], capture_output=True, text=True, cwd=work, timeout=180, env=silenced)
    django = subprocess.run([python, "-c", "import django"], capture_output=True, text=True, cwd=work, timeout=60)

    assert where.stdout.startswith(str(tmp_path / "venv")), where.stdout + where.stderr
    assert synth.returncode == 0, synth.stderr
    assert "end-of-life" not in synth.stdout + synth.stderr
    assert (work / "cdktf.out" / "stacks" / "work" / "cdk.tf.json").exists()
    assert "No module named 'django'" in django.stderr  # none of the Django half came along


def test_the_constructs_readme_explains_the_node_banner_and_depends_on():
    readme = CONSTRUCTS_README.read_text()

    assert "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION" in readme
    assert "depends_on=[...]" in readme and "node.add_dependency" in readme


def test_the_django_wheel_holds_the_app_alone_and_depends_on_what_it_imports(wheels):
    with zipfile.ZipFile(wheels["django"]) as wheel:
        names = wheel.namelist()
        [metadata] = [name for name in names if name.endswith(".dist-info/METADATA")]
        requires = Parser().parsestr(wheel.read(metadata).decode()).get_all("Requires-Dist")

    packages = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert packages == {"cloudtasks"}
    for shipped in ("cloudtasks/migrations/0002_run_records.py", "cloudtasks/management/commands/run_task.py",
                    "cloudtasks/management/commands/cloudtasks_emulator.py", "cloudtasks/local/emulator_launcher.py",
                    "cloudtasks/testing.py", "cloudtasks/urls.py"):
        assert shipped in names
    assert {re.split(r"[<>=\[ ;]", requirement)[0] for requirement in requires} == {
        "django", "google-cloud-tasks", "grpcio", "pyjwt", "google-cloud-logging",
    }


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
        "PATH": users_shell()["PATH"], "DJANGO_DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
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

"""The local run's admin user (local_run/admin_user.py): one user, given a new password
by each run, and made only with a local run's settings on its SQLite database.

(tests/local_run/test_dev_script.py signs in to the admin with what scripts/dev.sh prints.)
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.local_run import dev_system

DJANGO_DIR = dev_system.ROOT / "django_project"
PRODUCTION = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "tests-only-not-a-secret",
              "DJANGO_EMAIL_URL": "smtp://127.0.0.1:25", "DJANGO_DEFAULT_FROM_EMAIL": "noreply@example.com"}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> dict[str, str]:
    """A local run's environment (DEBUG on), on a new SQLite database, migrated."""
    environment = {**dev_system.shell_environment(tmp_path_factory.mktemp("admin")), "DJANGO_DEBUG": "true"}
    # Without the queues a local run configures, the task backends' checks would fail.
    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks"],
                              cwd=DJANGO_DIR, env=environment, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    return environment


def make_admin_user(environment: dict[str, str], password: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """What local_run.system runs: the module, given a file with the password."""
    password_file = tmp_path / "password"
    password_file.write_text(password)
    return subprocess.run([sys.executable, "-m", "local_run.admin_user", str(password_file)], cwd=dev_system.ROOT,
                          env=environment, capture_output=True, text=True, timeout=60)


def users(environment: dict[str, str]) -> list[tuple[str, int, int, str]]:
    with closing(sqlite3.connect(environment["DATABASE_URL"].removeprefix("sqlite:///"))) as database:
        return database.execute("SELECT username, is_staff, is_superuser, password FROM auth_user").fetchall()


def password_matches(encoded: str, password: str) -> bool:
    """Django's pbkdf2_sha256 check, done apart from Django: algorithm$iterations$salt$hash."""
    algorithm, iterations, salt, expected = encoded.split("$")
    assert algorithm == "pbkdf2_sha256"
    derived = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return base64.b64encode(derived).decode() == expected


def test_each_run_gives_the_one_admin_user_a_new_password(local_run, tmp_path):
    first = make_admin_user(local_run, "first-run-password", tmp_path)
    second = make_admin_user(local_run, "second-run-password", tmp_path)

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    [(username, is_staff, is_superuser, encoded)] = users(local_run)
    assert (username, is_staff, is_superuser) == ("admin", 1, 1)
    assert password_matches(encoded, "second-run-password")


@pytest.mark.parametrize(("changed", "reason"), [
    (PRODUCTION, "DJANGO_DEBUG is not true: these are production settings"),
    ({"DATABASE_URL": "postgres://nobody@127.0.0.1:9/shared"},
     "the database is postgresql (from DATABASE_URL), not the local run's SQLite: "
     "make a user there with `manage.py createsuperuser`"),
], ids=["production settings", "not SQLite"])
def test_no_admin_user_is_made_outside_a_local_run(local_run, tmp_path, changed, reason):
    before = users(local_run)

    made = make_admin_user({**local_run, **changed}, "a-password", tmp_path)

    assert made.returncode == 1
    assert made.stderr.strip() == f"no admin user made: {reason}"
    assert users(local_run) == before

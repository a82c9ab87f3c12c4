"""The test database fixture: each test runs on the database it is parametrized with, and
processes the test starts can open that same database through `database.url`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection

from cloudtasks.config import env

PROJECT = Path(__file__).resolve().parents[2] / "django_project"


@pytest.mark.both_databases
def test_the_default_connection_is_the_parametrized_database(database, db):
    assert connection.vendor == database.vendor


@pytest.mark.both_databases
def test_a_child_process_sees_what_the_test_committed(database, transactional_db):
    User.objects.create_user("ada", "ada@example.com")

    counted = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c",
         "from django.contrib.auth.models import User; print(User.objects.count())"],
        cwd=PROJECT, env={**os.environ, env.DATABASE_URL: database.url},
        capture_output=True, text=True, timeout=60,
    )

    assert counted.stdout.strip() == "1", counted.stderr

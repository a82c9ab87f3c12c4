"""The local run's admin user: `python -m local_run.admin_user PASSWORD_FILE`.

local_run.system runs it after `migrate`, with the local run's environment, and prints
the user and its password beside the admin's address, so that the task records can be
looked at from the first sign-up on. Every run gives the same user a new password (read
from a file private to this user, never from the command line): running it again makes
no second user. It acts only on a local run's settings (DEBUG on) and its SQLite
database, never on a shared or production one; the image does not ship it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import django

from cloudtasks.config import env  # installed: the app's distribution (packaging/django)

USERNAME = "admin"


class NotLocal(Exception):
    """The settings or the database are not a local run's; the message says which."""


def ensure_admin_user(password: str) -> None:
    """Make USERNAME a superuser with `password`, creating the user if need be."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection

    if not settings.DEBUG:
        raise NotLocal(f"{env.DEBUG} is not true: these are production settings")
    if connection.vendor != "sqlite":
        raise NotLocal(
            f"the database is {connection.vendor} (from {env.DATABASE_URL}), not the local run's SQLite: "
            "make a user there with `manage.py createsuperuser`"
        )
    user_model = get_user_model()
    user, _ = user_model._default_manager.get_or_create(**{user_model.USERNAME_FIELD: USERNAME})
    user.is_active = user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local_run.admin_user", description=__doc__.split("\n\n")[0])
    parser.add_argument("password_file", type=Path, help="a file holding the password to set")
    password = parser.parse_args(argv).password_file.read_text()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    try:
        ensure_admin_user(password)
    except NotLocal as error:
        sys.exit(f"no admin user made: {error}")
    print(f"user {USERNAME!r} is a superuser, with this run's password")


if __name__ == "__main__":
    main()

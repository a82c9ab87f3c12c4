"""Which database the Django tests run on: PostgreSQL (production's) or SQLite (local runs').

Every test that uses the database (the `db`, `transactional_db` or `live_server`
fixtures) runs on PostgreSQL; one marked `@pytest.mark.both_databases` runs on SQLite
too, as a second test (`test_x[postgresql]`, `test_x[sqlite]`). Mark what can differ
between the two: transactions, locking, concurrent writers.

The database is a session-scoped parameter, so pytest runs all tests of one database,
then all of the other, and each test database is created once. Switching replaces the
default connection's settings and drops every thread's connection objects, which Django
offers no public way to do; it happens only between the two halves of a session.

Both test databases are real files or servers that other processes can open: the
`database` fixture's `url` is a DATABASE_URL for a child process (a Django command, a
second worker) that must see what the test sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asgiref.local import Local
from django.conf import settings
from django.db import connections

POSTGRESQL = "postgresql"
SQLITE = "sqlite"
BOTH = (POSTGRESQL, SQLITE)
MARKER = "both_databases"
NAME = "app"  # the test database is Django's test_<NAME>


@dataclass(frozen=True)
class TestDatabase:
    vendor: str  # POSTGRESQL or SQLITE
    config: dict[str, Any]  # DATABASES["default"] while tests of this vendor run

    @property
    def url(self) -> str:
        """The DATABASE_URL of the test database, for child processes (valid once created)."""
        test_name = self.config["TEST"]["NAME"]
        if self.vendor == SQLITE:
            return f"sqlite:///{test_name}"
        return f"postgres://{self.config['USER']}:{self.config['PASSWORD']}@{self.config['HOST']}:{self.config['PORT']}/{test_name}"


def postgresql(url: str) -> TestDatabase:
    import dj_database_url

    config = dj_database_url.parse(url)
    config["ENGINE"] = "cloudtasks.postgresql"  # as config/settings.py sets it for PostgreSQL
    config["TEST"] = {"NAME": f"test_{config['NAME']}"}
    return TestDatabase(POSTGRESQL, config)


def sqlite(directory: Path) -> TestDatabase:
    # A file, not Django's default in-memory test database, so that other processes
    # (and live server threads) open the very same database.
    config = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(directory / f"{NAME}.sqlite3"),
        "TEST": {"NAME": str(directory / f"test_{NAME}.sqlite3")},
        # As config/settings.py sets it for SQLite.
        "OPTIONS": {"transaction_mode": "IMMEDIATE"},
    }
    return TestDatabase(SQLITE, config)


def use(config: dict[str, Any]) -> None:
    """Make `config` the default database for every thread, from now on."""
    connections.close_all()
    settings.DATABASES = {"default": config}
    # ConnectionHandler caches its processed settings and each thread's connections.
    connections.__dict__.pop("settings", None)
    connections._settings = None
    connections._connections = Local(connections.thread_critical)

"""What the task benchmarks run on, and how they report.

A PostgreSQL server that commits to disk as production's does (the tests' server does
not), or SQLite in a file as a local run has it; the Cloud Tasks emulator; and Django set
up with the project's settings (plus the tests' task app), migrated. Everything on
127.0.0.1, started here and stopped at the end.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "django_project")]

from cloudtasks.config import env  # noqa: E402  (after the path is set)
from tests.django import cloud_tasks_emulator, postgresql_server  # noqa: E402
from tests.django.backend_settings import HANDLER_URL, queues_variable  # noqa: E402


POSTGRESQL = "postgresql"
SQLITE = "sqlite"


@dataclass
class Environment:
    server: postgresql_server.PostgresServer | None  # None on SQLite
    emulator: cloud_tasks_emulator.Emulator
    queue: str  # both queue names go here


@contextmanager
def environment(
    *, handler_url: str = HANDLER_URL, paused: bool = True, database: str = POSTGRESQL,
    server_settings: Sequence[str] = (), **settings: str
) -> Iterator[Environment]:
    """Django on `database` (a durable PostgreSQL, or SQLite in a new file) and the
    emulator, with one queue (paused: nothing is pushed) for every queue name;
    `server_settings` are PostgreSQL's (like "max_connections=20"), `settings` more
    environment variables."""
    if database not in (POSTGRESQL, SQLITE):
        raise ValueError(f"database {database!r} is not one of {POSTGRESQL!r}, {SQLITE!r}")
    directory = Path(tempfile.mkdtemp(prefix="benchmark-"))
    server = postgresql_server.start(durable=True, settings=server_settings) if database == POSTGRESQL else None
    emulator = cloud_tasks_emulator.start(max_retries=5, log=directory / "emulator.log")
    try:
        queue = emulator.create_queue(paused=paused)
        os.environ.update({
            "DJANGO_SETTINGS_MODULE": "tests.django.subprocess_settings",
            env.SECRET_KEY: "benchmark-only", env.EMAIL_URL: "smtp://127.0.0.1:25",
            env.DEFAULT_FROM_EMAIL: "noreply@example.com", env.ALLOWED_HOSTS: "127.0.0.1,testserver",
            env.DATABASE_URL: (
                server.create_database("benchmark") if server else f"sqlite:///{directory / 'benchmark.sqlite3'}"
            ),
            env.EMULATOR_HOST: emulator.address,
            env.QUEUES: queues_variable({"default": queue, "long": queue}),
            env.HANDLER_URL: handler_url,
            **settings,
        })
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", run_syncdb=True, verbosity=0)  # the tests' task app has no migrations
        yield Environment(server, emulator, queue)
    finally:
        from django.db import connections

        connections.close_all()
        cloud_tasks_emulator.stop(emulator)
        if server:
            postgresql_server.stop(server)
        shutil.rmtree(directory, ignore_errors=True)


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def milliseconds(samples: Sequence[float]) -> tuple[str, str, str]:
    """p50, p99 and max of `samples` (seconds), in milliseconds."""
    return tuple(f"{1000 * value:.2f}" for value in (
        statistics.median(samples), percentile(samples, 0.99), max(samples)
    ))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"

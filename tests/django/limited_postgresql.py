"""A PostgreSQL server with few connection slots, which the app uses as an ordinary role:
for tests and benchmarks at the connection limit.

Superusers may take the slots PostgreSQL reserves for them (superuser_reserved_connections,
3), so the app connects as a role that is not one, as it does on Cloud SQL. The tests'
own superuser watches from a reserved slot: what it counts takes nothing from the app.
Its database is migrated (with the tests' task app), and `watch()` samples, every few
milliseconds, the app's connections, the slots held (cloudtasks.run.slots) and the lease
renewal connections of each process (cloudtasks.run.lease), keeping the peaks.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from cloudtasks.config import env
from tests.django import postgresql_server
from tests.django.job_execution import COMMAND_TIMEOUT_SECONDS, DEPLOYED, start_manage_py
from tests.django.postgresql_server import PostgresServer

APP_ROLE = "app"
DATABASE = "budget"
SAMPLE_SECONDS = 0.005
# What PostgreSQL writes to its log when it refuses a connection at its limit.
REFUSED = re.compile(r"FATAL:  (sorry, too many clients already|remaining connection slots are reserved)")


def sample_query() -> str:
    """One sample: the app role's connections; the slots held; renewal connections by process."""
    # Imported here, not with the module: a benchmark starts the server before Django is set up.
    from cloudtasks.run.lease import RENEWAL_APPLICATION

    return f"""
SELECT
    (SELECT count(*) FROM pg_stat_activity WHERE usename = '{APP_ROLE}'),
    (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted),
    (SELECT coalesce(json_object_agg(application_name, n), '{{}}') FROM (
        SELECT application_name, count(*) AS n FROM pg_stat_activity
        WHERE usename = '{APP_ROLE}' AND application_name LIKE '{RENEWAL_APPLICATION}%'
        GROUP BY application_name) AS renewals)
"""


@dataclass
class Peaks:
    """The most of each that any sample saw."""

    connections: int = 0
    slots_held: int = 0
    renewal_connections: int = 0  # of all processes together
    renewal_connections_of_one_process: int = 0
    processes_renewing: set[str] = field(default_factory=set)

    def add(self, connections: int, slots_held: int, renewals: Mapping[str, int]) -> None:
        self.connections = max(self.connections, connections)
        self.slots_held = max(self.slots_held, slots_held)
        self.renewal_connections = max(self.renewal_connections, sum(renewals.values()))
        self.renewal_connections_of_one_process = max(self.renewal_connections_of_one_process, *renewals.values(), 0)
        self.processes_renewing |= set(renewals)


@dataclass(frozen=True)
class LimitedServer:
    server: PostgresServer
    max_connections: int
    app_password: str

    @property
    def url(self) -> str:
        """The app's DATABASE_URL: its own role, not a superuser."""
        return f"postgres://{APP_ROLE}:{self.app_password}@{self.server.host}:{self.server.port}/{DATABASE}"

    def admin(self) -> psycopg.Connection:
        """A superuser's connection to the app's database (from a reserved slot)."""
        return self.server.connect(DATABASE, autocommit=True)

    def app_connection(self) -> psycopg.Connection:
        """A connection as the app's role: it takes one of the slots the app may use."""
        return psycopg.connect(self.url, autocommit=True)

    def refusals(self) -> int:
        """Connections the server refused for want of slots, since it started."""
        return len(REFUSED.findall(self.server.log.read_text(errors="replace")))

    @contextmanager
    def watch(self, every: float = SAMPLE_SECONDS) -> Iterator[Peaks]:
        """Sample every `every` seconds while the block runs; the peaks so far. A server
        stopped meanwhile and started again on its port is sampled again once it is back."""
        peaks = Peaks()
        stop = threading.Event()
        query = sample_query()

        def sample() -> None:
            while not stop.is_set():
                try:
                    with self.admin() as connection:
                        while not stop.wait(every):
                            peaks.add(*connection.execute(query).fetchone())
                except psycopg.OperationalError:
                    stop.wait(every)  # the server is stopped: try again

        sampler = threading.Thread(target=sample, name="connection-sampler")
        sampler.start()
        try:
            yield peaks
        finally:
            stop.set()
            sampler.join()


def start(max_connections: int, *, durable: bool = False) -> LimitedServer:
    """A server allowing `max_connections`, with the app's role and migrated database;
    `durable`: committing to disk, as production's does (postgresql_server.start)."""
    server = postgresql_server.start(durable=durable, settings=[f"max_connections={max_connections}"])
    try:
        password = secrets.token_urlsafe(16)
        with server.connect(autocommit=True) as connection:
            connection.execute(f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{password}'")
            connection.execute(f'CREATE DATABASE "{DATABASE}" OWNER {APP_ROLE}')
        limited = LimitedServer(server, max_connections, password)
        # The tests' task app has no migrations: its tables come with --run-syncdb.
        migrate = start_manage_py("migrate", "--run-syncdb", variables={**DEPLOYED, env.DATABASE_URL: limited.url})
        _, errors = migrate.communicate(timeout=COMMAND_TIMEOUT_SECONDS)
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed: {errors}")
        return limited
    except BaseException:
        postgresql_server.stop(server)
        raise


def stop(limited: LimitedServer) -> None:
    postgresql_server.stop(limited.server)

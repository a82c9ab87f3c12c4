"""A throwaway PostgreSQL server for the tests, on a free 127.0.0.1 port.

PostgreSQL refuses to run as root, so when the tests run as root (as CI does) the
server runs as the `postgres` system user that Debian's package creates; otherwise as
the current user. Its data directory and socket live in a new directory under the
system's temporary directory (pytest's own is private to the user running the tests).
It accepts password (SCRAM) logins only, so nobody else on the machine can connect
while it runs, and it does not sync to disk: its data is thrown away, and creating the
test database takes a fraction of the time. A benchmark may stop a durable server and
start it again on the same port and data, as a managed database restarts.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg

from tests.django.loopback import free_port

UNPRIVILEGED_USER = "postgres"  # who runs the server when the tests run as root
SUPERUSER = "tests"
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
START_ATTEMPTS = 3  # a free port can be taken between finding it and binding it
# Durability is of no use for data that is thrown away.
NO_DURABILITY = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
INSTALL_HINT = "install Debian's `postgresql` package (.ci/run does), or set POSTGRESQL_BIN"


class PostgresUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class PostgresServer:
    port: int
    password: str
    directory: Path  # data, socket and log; removed by stop()
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    settings: tuple[str, ...] = ()  # the server's, as started: start_again() starts it with them

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def url(self, database: str) -> str:
        """A DATABASE_URL for `database` on this server (the password is URL-safe)."""
        return f"postgres://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres", **kwargs: Any) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, password=self.password,
            dbname=database, **kwargs,
        )

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its URL."""
        with self.connect(autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def bin_dir() -> Path:
    """Where initdb and postgres are: $POSTGRESQL_BIN, Debian's newest, or PATH."""
    candidates = [os.environ["POSTGRESQL_BIN"]] if os.environ.get("POSTGRESQL_BIN") else []
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(Path(path).parent.name), reverse=True
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "postgres").is_file():
            return Path(candidate)
    raise PostgresUnavailable(f"no PostgreSQL server binaries (initdb, postgres) found: {INSTALL_HINT}")


def start(*, durable: bool = False, settings: Sequence[str] = ()) -> PostgresServer:
    """Initialise a cluster in a new directory and start it; return once it accepts logins.

    `durable`: commit to disk as a production server does (for benchmarks); the tests'
    server does not, as their data is thrown away. `settings`: more server settings,
    like "max_connections=20"."""
    binaries = bin_dir()
    owner = _server_user()
    directory = Path(tempfile.mkdtemp(prefix="tests-postgresql-"))
    try:
        os.chown(directory, owner.pw_uid, owner.pw_gid)
        password = secrets.token_urlsafe(24)
        _initdb(binaries, directory, owner, password)
        for attempt in range(1, START_ATTEMPTS + 1):
            server = _start_server(binaries, directory, owner, password, durable, settings)
            try:
                _wait_until_ready(server)
                return server
            except PostgresUnavailable:
                _stop_process(server.process)
                if attempt == START_ATTEMPTS or "could not bind" not in _read(server.log):
                    raise
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


def stop(server: PostgresServer) -> None:
    _stop_process(server.process)
    shutil.rmtree(server.directory, ignore_errors=True)


def stop_keeping_data(server: PostgresServer) -> None:
    """Stop the server with PostgreSQL's fast shutdown, as a managed database restarts:
    open sessions are ended, what was committed stays. `start_again` brings it back."""
    _stop_process(server.process)


def start_again(server: PostgresServer) -> PostgresServer:
    """The stopped `server`, started again on its port, data and settings; returned once
    it accepts logins."""
    process = _launch(bin_dir(), server.directory, _server_user(), server.settings)
    restarted = replace(server, process=process)
    try:
        _wait_until_ready(restarted)
    except BaseException:
        _stop_process(process)
        raise
    return restarted


def _server_user() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and PostgreSQL refuses to: there is no {UNPRIVILEGED_USER!r} "
            f"user to run it as ({INSTALL_HINT})"
        ) from None


def _as(owner: pwd.struct_passwd) -> dict[str, Any]:
    """Popen arguments that run a child as `owner` (nothing to change if that is us)."""
    if owner.pw_uid == os.geteuid():
        return {}
    return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}


def _initdb(binaries: Path, directory: Path, owner: pwd.struct_passwd, password: str) -> None:
    password_file = directory / "password"
    password_file.write_text(password)
    os.chown(password_file, owner.pw_uid, owner.pw_gid)
    password_file.chmod(0o600)
    result = subprocess.run(
        [binaries / "initdb", "--pgdata", directory / "data", "--username", SUPERUSER,
         "--pwfile", password_file, "--auth", "scram-sha-256", "--encoding", "UTF8",
         "--no-locale", "--no-sync", "--no-instructions"],
        capture_output=True, text=True, cwd=directory, timeout=120, **_as(owner),
    )
    password_file.unlink()
    if result.returncode != 0:
        raise PostgresUnavailable(f"initdb failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def _start_server(
    binaries: Path, directory: Path, owner: pwd.struct_passwd, password: str, durable: bool, more: Sequence[str]
) -> PostgresServer:
    port = free_port()
    settings = (
        "listen_addresses=127.0.0.1", f"port={port}", f"unix_socket_directories={directory}",
        *(() if durable else NO_DURABILITY), *more,
    )
    process = _launch(binaries, directory, owner, settings)
    return PostgresServer(port=port, password=password, directory=directory, process=process, settings=settings)


def _launch(
    binaries: Path, directory: Path, owner: pwd.struct_passwd, settings: Sequence[str]
) -> subprocess.Popen[bytes]:
    with (directory / "server.log").open("ab") as output:
        return subprocess.Popen(
            [binaries / "postgres", "-D", directory / "data", *(f"-c{s}" for s in settings)],
            stdout=output, stderr=subprocess.STDOUT, cwd=directory,
            start_new_session=True,  # a Ctrl-C meant for pytest does not reach it first
            **_as(owner),
        )


def _wait_until_ready(server: PostgresServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise PostgresUnavailable(
                f"postgres exited with status {server.process.returncode}:\n{_read(server.log)}"
            )
        try:
            server.connect(connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            time.sleep(0.05)
    raise PostgresUnavailable(f"postgres did not accept logins within {START_TIMEOUT_SECONDS}s:\n{_read(server.log)}")


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    # SIGINT is PostgreSQL's "fast" shutdown: it ends open sessions instead of waiting.
    for sig in (signal.SIGINT, signal.SIGKILL):
        if process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def _read(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else "(no log)"

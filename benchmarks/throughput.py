"""Tasks run per second and per CPU: this project's push handler beside django-tasks-db's
`db_worker`, in one run, on one durable PostgreSQL; and enqueue beside its enqueue.

    uv run python benchmarks/throughput.py [--tasks N] [--rounds R] [--server ARGS ...] [--before DIR] [--enqueue E]

The peer runs in an environment of its own that this script creates with uv in a
temporary directory and removes at the end (django-tasks-db 0.13 with this project's
Django and psycopg, nothing of this project's dependencies): it is never a dependency
of the app. Both sides run the same tasks (benchmarks/throughput_app: a no-op, and one
that INSERTs a row) against databases of their own on the same server, which commits to
disk as production's does, with pg_stat_statements loaded to count statements.

Each round drains N tasks (default 2,000) per variant, the variants in turns, so that
the machine's changing load falls on all of them alike:

- handler: the web service as it runs in production (gunicorn, config/gunicorn.py: 4 sync
  workers; or other `--server` arguments, each a variant), the tasks pushed by the Cloud Tasks emulator from 8 queues (it pushes each
  queue's tasks one at a time) with a token per task from a Google-like signer whose keys
  the handler fetches from a JWKS URL on loopback (each token different: none is
  verified from the handler's kept tokens). The records and emulator tasks are
  made first, queues paused; the clock starts when the queues resume.
- db_worker x 1 and x 4: `manage.py db_worker --interval 0.1` processes, started and
  idle; the tasks enqueued beforehand on a queue they do not serve and handed to them
  with one UPDATE; the clock starts when it commits.

For each: tasks/s (until every task's result is SUCCESSFUL), CPU per task (user + system
of the worker processes: gunicorn's arbiter and workers, or the db_workers; not the
emulator's, nor PostgreSQL's), statements per task (pg_stat_statements, BEGIN and COMMIT
included), transactions per task (pg_stat_database, read once the workers have exited),
and connections (the most open at once, and sessions opened). Then, once a round, how fast
the emulator alone pushes to a server that answers at once: the most any handler drains.

Then enqueue, E tasks (default 1,000) each way, medians over the rounds: sequential (each
enqueue its own transaction), 8 threads at once, and in one transaction: for this
project `cloudtasks.enqueue_together()` (one INSERT for all, sends after commit at once),
for the peer its enqueue in a transaction. This project's enqueues include CreateTask
(to the emulator); the peer's are INSERTs alone. For reference, CreateTask alone at
enqueue_together's concurrency: the emulator's ceiling for what a bulk enqueue sends.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT, environment, machine, table

PEER = ["django-tasks-db==0.13.0"]
QUEUES = 8
POLL_SECONDS = 0.02
DRAIN_TIMEOUT_SECONDS = 300
POLL_MARK = "/* throughput poll */"
THREADS = 8
TASKS = ("noop", "one_write")


@dataclass
class Drain:
    variant: str
    task: str
    count: int
    seconds: float
    cpu: float
    statements: int
    transactions: int
    sessions: int
    connections: int

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


class Counters:
    """What PostgreSQL counts for one database, read through a connection of our own
    whose statements (marked) are left out."""

    def __init__(self, server, database: str) -> None:
        self.connection = server.connect(database, autocommit=True)
        self.connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        self.polls = 0
        self.most_connections = 0

    def query(self, sql: str, *parameters: object) -> tuple | None:
        self.polls += 1
        cursor = self.connection.execute(f"{POLL_MARK} {sql}", parameters)
        return cursor.fetchone() if cursor.description else None

    def reset(self) -> None:
        self.query("SELECT pg_stat_statements_reset(), pg_stat_reset()")
        self.polls, self.most_connections = 0, 0

    def count(self, sql: str) -> int:
        """`sql`'s count, noting the connections open to the database meanwhile."""
        counted, _ = self.count_and_connections(sql)
        return counted

    def count_and_connections(self, sql: str) -> tuple[int, int]:
        counted, connections = self.query(
            f"SELECT ({sql}), (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            f"AND backend_type = 'client backend' AND pid <> pg_backend_pid())"  # not autovacuum's
        )
        self.most_connections = max(self.most_connections, connections)
        return counted, connections

    def wait_for_connections(self, count: int, *, at_least: bool) -> None:
        """Until `count` other connections are open (at least, or at most)."""
        deadline = time.monotonic() + 30
        while True:
            _, connections = self.count_and_connections("SELECT 0")
            if (connections >= count) if at_least else (connections <= count):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{connections} connections open after 30 s, waiting for {count}")
            time.sleep(0.05)

    def drained(self, variant: str, task_name: str, count: int, seconds: float, cpu: float, tables: str) -> Drain:
        """The drain just timed, counted once the workers' connections are closed (a backend
        flushes its statistics as it exits); `tables` emptied for the next."""
        most = self.most_connections
        self.wait_for_connections(0, at_least=False)
        statements, transactions, sessions = self.totals()
        self.query(f"TRUNCATE {tables}")
        return Drain(variant, task_name, count, seconds, cpu, statements, transactions, sessions, most)

    def totals(self) -> tuple[int, int, int]:
        """Statements, transactions and sessions since the reset (ours left out)."""
        polls = self.polls + 2  # these two reads
        (statements,) = self.query(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = "
            f"(SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '{POLL_MARK}%%'"
        )
        transactions, sessions = self.query(
            "SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(statements), int(transactions) - polls, int(sessions)


def cpu_seconds(pids: Iterable[int]) -> float:
    """User and system CPU of the processes `pids` (those still running)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def group(leader: int) -> list[int]:
    """The processes of `leader`'s process group (gunicorn's arbiter and workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == leader:
                pids.append(int(entry.name))
    return pids


def settle(pids: Callable[[], list[int]]) -> None:
    """Wait until the processes `pids` are idle (started, their imports done: that CPU is
    no task's), for at most 30 s."""
    deadline = time.monotonic() + 30
    used = cpu_seconds(pids())
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(pids())
        if now - used < 0.02:
            return
        used = now


def drain(counters: Counters, start: Callable[[], None], finished_sql: str, count: int, pids: Callable[[], list[int]]
          ) -> tuple[float, float]:
    """Seconds from `start()` until `finished_sql` counts `count`, and the CPU `pids` used."""
    cpu_before = cpu_seconds(pids())
    counters.reset()
    started = time.perf_counter()
    start()
    while counters.count(finished_sql) < count:
        if time.perf_counter() - started > DRAIN_TIMEOUT_SECONDS:
            raise RuntimeError(f"{count} tasks not done within {DRAIN_TIMEOUT_SECONDS} s")
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    return seconds, cpu_seconds(pids()) - cpu_before


# --- This project's push handler ------------------------------------------------------


class Handler:
    def __init__(self, env, queue_paths: dict[str, str], port: int) -> None:
        self.env, self.queue_paths, self.port = env, queue_paths, port
        self.counters = Counters(env.server, "benchmark")

    def pushes_alone(self, count: int) -> float:
        """Pushes/s the emulator delivers to a server that answers 200 at once (on this
        process's thread, after reading the request): the most any handler could drain."""
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from threading import Thread

        answered = []

        class Answer(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                answered.append(1)

            def log_message(self, *args: object) -> None:
                pass

        self.fill("noop", count)
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Answer)
        Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        client = self.env.emulator.client
        try:
            started = time.perf_counter()
            for path in self.queue_paths.values():
                client.resume_queue(name=path)
            while len(answered) < count:
                if time.perf_counter() - started > DRAIN_TIMEOUT_SECONDS:
                    raise RuntimeError(f"{count} pushes not answered within {DRAIN_TIMEOUT_SECONDS} s")
                time.sleep(POLL_SECONDS)
            seconds = time.perf_counter() - started
        finally:
            for path in self.queue_paths.values():
                client.pause_queue(name=path)
            server.shutdown()
            server.server_close()
        self.counters.query("TRUNCATE cloudtasks_taskrecord")
        return count / seconds

    def fill(self, task_name: str, count: int) -> None:
        """Records and emulator tasks as enqueue leaves them, each with a token as Cloud
        Tasks adds one, on paused queues."""
        from django.db import connections
        from django.tasks import task_backends
        from django.utils import timezone
        from google.cloud import tasks_v2

        from benchmarks.throughput_app import tasks
        from cloudtasks.models import TaskRecord
        from cloudtasks.enqueue.outbox import SEND_CLAIM
        from cloudtasks.enqueue.task_request import build_request
        from tests.django.backend_settings import invoker
        from tests.django.pushes import SIGNER

        backend = task_backends["default"]
        task = getattr(tasks, task_name)
        names = list(self.queue_paths)
        now = timezone.now()
        records = [
            TaskRecord(
                id=secrets.token_hex(16), task_path=task.module_path, backend=backend.alias,
                queue_name=names[n % len(names)], args=[n] if task_name == "one_write" else [], kwargs={},
                enqueued_at=now, check_after=now + SEND_CLAIM,
            )
            for n in range(count)
        ]
        TaskRecord.objects.bulk_create(records)
        client = backend.client()
        audience = backend.backend_options.queues[names[0]].target.audience
        for record in records:
            request = build_request(backend.route(record.queue_name), record)
            # A token of its own (a claim naming the task), so that none is verified from the
            # handler's kept tokens: the most a token check costs.
            token = SIGNER.mint(audience=audience, email=invoker(record.queue_name), task={"id": record.id})
            tasks_v2.CreateTaskRequest.pb(request).task.http_request.headers["Authorization"] = f"Bearer {token}"
            client.create_task(request=request)
        connections.close_all()  # only the workers' connections are counted

    def run(self, task_name: str, count: int, gunicorn_args: str, before: Path | None = None) -> Drain:
        """Drain `count` tasks through gunicorn started with `gunicorn_args` (besides
        config/gunicorn.py), serving this code or, `before`, another version's."""
        from tests.django.web_process import PROJECT, WebProcess

        self.fill(task_name, count)
        app = "config.asgi" if "asgi" in gunicorn_args else "config.wsgi"
        project = before / "django_project" if before else PROJECT
        server = WebProcess(self.port, _project_variables(), gunicorn_args=gunicorn_args, app=app, project=project)
        server.start()  # one worker answers: the others may still be starting
        settle(lambda: group(server.process.pid))
        client = self.env.emulator.client
        try:
            seconds, cpu = drain(
                self.counters, lambda: [client.resume_queue(name=path) for path in self.queue_paths.values()],
                "SELECT count(*) FROM cloudtasks_taskrecord WHERE status = 'SUCCESSFUL'", count,
                lambda: group(server.process.pid),
            )
        finally:
            for path in self.queue_paths.values():
                client.pause_queue(name=path)
            server.terminate()
        variant = f"handler{' before' if before else ''}, {gunicorn_args}"
        return self.counters.drained(variant, task_name, count, seconds, cpu,
                                     "cloudtasks_taskrecord, throughput_app_write")


def _project_variables() -> dict[str, str]:
    return {key: value for key, value in os.environ.items()
            if key.startswith(("CLOUD_TASKS", "DATABASE", "DJANGO", "THROUGHPUT"))}


# --- django-tasks-db's db_worker ------------------------------------------------------


class Peer:
    def __init__(self, env, directory: Path) -> None:
        self.python = str(directory / "bin" / "python")
        subprocess.run(["uv", "venv", "--quiet", "--python", sys.executable, str(directory)], check=True)
        from importlib.metadata import version

        subprocess.run(
            ["uv", "pip", "install", "--quiet", "--python", self.python, *PEER, f"django=={version('django')}",
             f"psycopg[binary]=={version('psycopg')}"], check=True,
        )
        self.environment = {
            **os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": env.server.create_database("peer"),
            "DJANGO_SETTINGS_MODULE": "benchmarks.throughput_app.peer_settings",
        }
        self.counters = Counters(env.server, "peer")
        self.peer("setup")

    def peer(self, *arguments: str) -> str:
        return subprocess.run(
            [self.python, "-m", "benchmarks.throughput_app.peer", *arguments], cwd=ROOT, env=self.environment,
            check=True, capture_output=True, text=True,
        ).stdout

    def run(self, task_name: str, count: int, processes: int) -> Drain:
        from benchmarks.throughput_app.peer import HOLD

        self.peer("hold", task_name, str(count))
        workers = [
            subprocess.Popen(
                [self.python, "-m", "django", "db_worker", "--interval", "0.1", "--no-startup-delay"],
                cwd=ROOT, env=self.environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for _ in range(processes)
        ]
        try:
            self.counters.wait_for_connections(processes, at_least=True)
            settle(lambda: [worker.pid for worker in workers])
            time.sleep(1.5)  # idle: their statistics so far flushed (at most once a second)
            seconds, cpu = drain(
                self.counters,
                lambda: self.counters.query(
                    f"UPDATE django_tasks_database_dbtaskresult SET queue_name = 'default' WHERE queue_name = '{HOLD}'"
                ),
                "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status = 'SUCCESSFUL'", count,
                lambda: [worker.pid for worker in workers],
            )
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=30)
        return self.counters.drained(f"db_worker x {processes}", task_name, count, seconds, cpu,
                                     "django_tasks_database_dbtaskresult, throughput_app_write")

    def enqueue(self, mode: str, count: int) -> float:
        rate = json.loads(self.peer("enqueue", mode, str(count)))["tasks_per_second"]
        self.counters.query("TRUNCATE django_tasks_database_dbtaskresult")
        return rate


# --- This project's enqueue ----------------------------------------------------------


def enqueue_rates(mode: str, count: int) -> dict[str, float]:
    """Tasks/s of `count` enqueues of the no-op task: until the last one returned (for
    `together`, until its transaction committed, its rows written, and until every
    CreateTask was answered)."""
    from django.db import connections, transaction

    from benchmarks.throughput_app.tasks import noop
    from cloudtasks import enqueue_together
    from cloudtasks.models import TaskRecord

    def some(numbers: range) -> None:
        for _ in numbers:
            noop.enqueue()

    def in_thread(numbers: range) -> None:
        some(numbers)
        connections.close_all()

    committed = []
    started = time.perf_counter()
    if mode == "sequential":
        some(range(count))
    elif mode == "threads":
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(in_thread, [range(i, count, THREADS) for i in range(THREADS)]))
    else:
        with enqueue_together():
            some(range(count))
            # Runs first after the commit, before the sends the block's end arranged.
            transaction.on_commit(lambda: committed.append(time.perf_counter()))
    ended = time.perf_counter()
    TaskRecord.objects.all()._raw_delete(TaskRecord.objects.db)
    connections.close_all()
    if committed:
        return {f"{mode}, committed": count / (committed[0] - started), f"{mode}, sent": count / (ended - started)}
    return {mode: count / (ended - started)}


def create_task_rate(count: int) -> float:
    """CreateTask calls/s of `count` no-op tasks' requests built beforehand, sent as
    enqueue_together sends them (SEND_CONCURRENCY at once, one client): the emulator's
    own ceiling for what a bulk enqueue sends."""
    from django.tasks import task_backends
    from django.utils import timezone

    from benchmarks.throughput_app.tasks import noop
    from cloudtasks.models import TaskRecord
    from cloudtasks.enqueue.outbox import SEND_CONCURRENCY
    from cloudtasks.enqueue.task_request import build_request

    backend = task_backends["default"]
    route, now = backend.route("default"), timezone.now()
    requests = [
        build_request(route, TaskRecord(id=secrets.token_hex(16), task_path=noop.module_path, backend=backend.alias,
                                        queue_name="default", args=[], kwargs={}, enqueued_at=now))
        for _ in range(count)
    ]
    client = backend.client()
    started = time.perf_counter()
    with ThreadPoolExecutor(SEND_CONCURRENCY) as pool:
        list(pool.map(lambda request: client.create_task(request=request), requests))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per drain (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, variants in turns (default 3)")
    parser.add_argument("--server", action="append", dest="servers",
                        help="gunicorn arguments of a handler variant, repeatable (default: '--workers 4', "
                             "production's config/gunicorn.py; e.g. '--workers 2 --worker-class gthread --threads 4')")
    parser.add_argument("--before", type=Path,
                        help="an export of the code to compare with (git archive), with benchmarks/throughput_app "
                             "copied in: its handler drains too, in turns with this one's")
    parser.add_argument("--enqueue", type=int, default=1000, help="tasks per enqueue measurement (default 1000)")
    parser.add_argument("--only", choices=("handler", "peer", "enqueue"), action="append",
                        help="measure only these (repeatable); default all")
    arguments = parser.parse_args()
    only = set(arguments.only or ("handler", "peer", "enqueue"))

    from tests.django.backend_settings import queues_variable
    from tests.django.cloud_tasks_emulator import LOCATION
    from tests.django.jwks_server import JwksServer
    from tests.django.loopback import free_port
    from tests.django.pushes import SIGNER

    port = free_port()
    names = ["default", "long", *(f"q{n}" for n in range(2, QUEUES))]
    paths = {name: f"{LOCATION}/queues/throughput-{secrets.token_hex(4)}-{name}" for name in names}
    jwks = JwksServer(SIGNER)
    directory = Path(tempfile.mkdtemp(prefix="throughput-peer-"))
    drains: list[Drain] = []
    enqueues: dict[str, list[float]] = {}
    ceilings: list[float] = []  # pushes/s of the emulator alone
    loads = []
    try:
        with environment(
            handler_url=f"http://127.0.0.1:{port}/tasks/run/", server_settings=["shared_preload_libraries=pg_stat_statements"],
            DJANGO_SETTINGS_MODULE="benchmarks.throughput_app.settings", CLOUD_TASKS_QUEUES=queues_variable(paths),
            THROUGHPUT_JWKS_URL=jwks.url,
        ) as env:
            for path in paths.values():
                env.emulator.client.create_queue(parent=LOCATION, queue={"name": path})
                env.emulator.client.pause_queue(name=path)
            handler = Handler(env, paths, port)
            peer = Peer(env, directory) if only & {"peer", "enqueue"} else None
            for round_number in range(arguments.rounds):
                loads.append(os.getloadavg()[0])
                for task_name in TASKS:
                    if "handler" in only:
                        for gunicorn_args in arguments.servers or ["--workers 4"]:
                            drains.append(handler.run(task_name, arguments.tasks, gunicorn_args))
                            if arguments.before:
                                drains.append(handler.run(task_name, arguments.tasks, gunicorn_args, arguments.before))
                    if "peer" in only:
                        for processes in (1, 4):
                            drains.append(peer.run(task_name, arguments.tasks, processes))
                if "handler" in only:
                    ceilings.append(handler.pushes_alone(arguments.tasks))
                if "enqueue" in only:
                    for mode, peer_mode in (("sequential", "sequential"), ("threads", "threads"),
                                            ("together", "transaction")):
                        for name, rate in enqueue_rates(mode, arguments.enqueue).items():
                            enqueues.setdefault(f"this project, {name}", []).append(rate)
                        enqueues.setdefault(f"django-tasks-db, {peer_mode}", []).append(
                            peer.enqueue(peer_mode, arguments.enqueue))
                    enqueues.setdefault("CreateTask alone, 32 at once (the emulator's ceiling)", []).append(
                        create_task_rate(arguments.enqueue))
                print(f"round {round_number + 1} done, load average {loads[-1]:.2f}", file=sys.stderr)
    finally:
        jwks.close()
        shutil.rmtree(directory, ignore_errors=True)
    report(drains, enqueues, ceilings, loads, arguments)


def report(drains: list[Drain], enqueues: dict[str, list[float]], ceilings: list[float], loads: list[float],
           arguments) -> None:
    print(f"Throughput, {arguments.tasks} tasks per drain, medians of {arguments.rounds} rounds ({machine()}; "
          f"load average at each round's start: {', '.join(f'{load:.2f}' for load in loads)})\n")
    rows = []
    for task_name in TASKS:
        for variant in dict.fromkeys(d.variant for d in drains):
            runs = [d for d in drains if d.variant == variant and d.task == task_name]
            if not runs:
                continue

            def median(value: Callable[[Drain], float]) -> float:
                return statistics.median(value(d) for d in runs)

            rows.append((
                f"{task_name}, {variant}", f"{median(lambda d: d.per_second):.0f}",
                f"{1000 * median(lambda d: d.cpu / d.count):.2f}",
                f"{median(lambda d: d.statements / d.count):.2f} ({median(lambda d: d.transactions / d.count):.2f})",
                f"{median(lambda d: d.connections):.0f} ({median(lambda d: d.sessions):.0f})",
                " ".join(f"{d.per_second:.0f}" for d in runs),
            ))
    if rows:
        print(table(("drained", "tasks/s", "worker CPU ms per task", "statements (transactions) per task",
                     "connections at most (opened)", "tasks/s each round"), rows))
    if ceilings:
        print(f"\nThe emulator alone, pushing to a server that answers at once: {statistics.median(ceilings):.0f} "
              f"pushes/s (each round: {' '.join(f'{rate:.0f}' for rate in ceilings)})")
    if enqueues:
        print()
        print(table(("enqueue, noop", "tasks/s", "each round"), [
            (name, f"{statistics.median(rates):.0f}", " ".join(f"{rate:.0f}" for rate in rates))
            for name, rates in enqueues.items()
        ]))


if __name__ == "__main__":
    main()

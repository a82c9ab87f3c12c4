"""What enqueueing costs beside the outbox written by hand, on SQLite and on PostgreSQL in
one run; and what a web request waits when Cloud Tasks is up, down or hung.

    uv run python benchmarks/enqueue.py [--tasks N] [--rounds R] [--threads T] [--requests R] [--children C]

Each database is measured in a process of its own (Django reads DATABASE_URL once), one
after the other, against the Cloud Tasks emulator (gRPC on loopback): SQLite in a file,
as a local run has it, and a PostgreSQL server that commits to disk as production's does
(benchmarks/harness.py). In each, the paths below run in turns (R rounds of N/R calls
each), so that the machine's changing load falls on all of them alike:

- raw client, reused: `CloudTasksClient.create_task` with one client for every call;
- raw client, new per call: a client (and channel) made for each call, as many recipes
  do (against Google, each would also fetch an access token);
- INSERT of a task row alone (autocommit): what the outbox may add;
- the outbox by hand: the task's row INSERTed (the ORM) in a transaction, then CreateTask
  with the reused client, the task named after the row's id and its body carrying it;
- enqueue, autocommit: `task.enqueue` outside a transaction (row, then CreateTask);
- enqueue in a transaction: `with atomic(): task.enqueue(...)` (row, commit, CreateTask);
- concurrent, on PostgreSQL: T threads enqueueing in transactions at once (tasks/s of
  all of them; SQLite takes one writer at a time, and a local run has one).

The ratio the target is set on (within 25%) is the time per task of enqueue in a
transaction over the outbox by hand's, from their tasks/s. Beside it, the backend's own
work: the difference of their median CPU time (this thread's), which the machine's other
load disturbs far less than wall time.

Then web requests (Django's handler, in process) to a view that enqueues tasks in its
transaction, with Cloud Tasks up, frozen (SIGSTOP: connections hang) and stopped
(connection refused), with the default send budget, 0.5 s: one task, R requests (20
when frozen); C tasks (a task that enqueues many children), 3 requests each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import grpc
from harness import POSTGRESQL, SQLITE, Environment, environment, machine, milliseconds, table

DATABASES = {SQLITE: "SQLite (a file, as a local run has it)", POSTGRESQL: "PostgreSQL (commits to disk)"}
BY_HAND = "the outbox by hand (INSERT in a transaction, then CreateTask)"
IN_TRANSACTION = "enqueue in a transaction (row, commit, CreateTask)"
TARGET = 1.25  # enqueue's time per task at most 25% over the outbox by hand's


def timed(operation: Callable[[], object], count: int, cpu: list[float] | None = None) -> list[float]:
    """Seconds each of `count` calls took; the CPU seconds of this thread in each go to `cpu`."""
    samples = []
    for _ in range(count):
        started, started_cpu = time.perf_counter(), time.thread_time()
        operation()
        samples.append(time.perf_counter() - started)
        if cpu is not None:
            cpu.append(time.thread_time() - started_cpu)
    return samples


def rate(samples: list[float]) -> float:
    return len(samples) / sum(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000, help="calls per path (default 1000)")
    parser.add_argument("--rounds", type=int, default=10, help="turns the paths take (default 10)")
    parser.add_argument("--threads", type=int, default=8, help="threads for the concurrent measurement (default 8)")
    parser.add_argument("--requests", type=int, default=100, help="one-task requests per Cloud Tasks state (default 100)")
    parser.add_argument("--children", type=int, default=1000, help="tasks the many-task request enqueues (default 1000)")
    parser.add_argument("--database", choices=DATABASES, help="measure this database only (what each process runs)")
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)  # where a measuring process writes its rates
    arguments = parser.parse_args()
    if arguments.database:
        measure(arguments)
        return
    rates = {}
    with tempfile.TemporaryDirectory(prefix="benchmark-enqueue-") as directory:
        for database in DATABASES:
            report = Path(directory) / f"{database}.json"
            subprocess.run(
                [sys.executable, __file__, *sys.argv[1:], "--database", database, "--report", str(report)], check=True
            )
            rates[database] = json.loads(report.read_text())
    print(f"\n## Enqueue beside the outbox by hand, both databases in this run ({machine()})\n")
    rows = []
    for database, measured in rates.items():
        ratio = measured["by_hand"] / measured["enqueue"]
        rows.append((
            DATABASES[database], f"{measured['by_hand']:.0f}", f"{measured['enqueue']:.0f}", f"{ratio:.2f}",
            f"{100 * (ratio - 1):+.0f}%", "yes" if ratio <= TARGET else "NO", f"{1e6 * measured['own_cpu']:.0f} us",
        ))
    print(table(("database", "by hand, tasks/s", "enqueue, tasks/s", "time ratio", "over by hand",
                 f"within {100 * (TARGET - 1):.0f}%", "backend's own CPU per task"), rows))


def measure(arguments: argparse.Namespace) -> None:
    """Everything, on one database; its rates go to `arguments.report`."""
    with environment(database=arguments.database) as where:
        rates = enqueue_paths(where, arguments)
        if arguments.report:
            arguments.report.write_text(json.dumps(rates))
        request_waits(where, arguments)


def enqueue_paths(where: Environment, arguments: argparse.Namespace) -> dict[str, float]:
    """The paths' table, and the rates of the outbox by hand and of enqueue in a transaction."""
    from django.db import transaction
    from django.utils import timezone
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    from cloudtasks.enqueue.client import cloud_tasks_client
    from cloudtasks.models import TaskRecord
    from cloudtasks.wire.payload import TaskPayload
    from tests.django.backend_settings import HANDLER_URL, INVOKER
    from tests.django.taskapp.tasks import record

    task_path = record.module_path

    def raw_task(task_id: str, body: bytes) -> tasks_v2.Task:
        return tasks_v2.Task(
            name=f"{where.queue}/tasks/{task_id}",
            http_request=tasks_v2.HttpRequest(
                url=HANDLER_URL, http_method=tasks_v2.HttpMethod.POST, body=body,
                headers={"Content-Type": "application/json"},
                oidc_token=tasks_v2.OidcToken(service_account_email=INVOKER, audience=HANDLER_URL),
            ),
        )

    constant_body = TaskPayload(task_path, "x" * 32, ["benchmark"], {}, timezone.now()).encode()
    reused = cloud_tasks_client(where.emulator.address)

    def raw_reused() -> None:
        reused.create_task(parent=where.queue, task=raw_task(uuid.uuid4().hex, constant_body))

    def raw_new_client() -> None:
        with grpc.insecure_channel(where.emulator.address) as channel:
            client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
            client.create_task(parent=where.queue, task=raw_task(uuid.uuid4().hex, constant_body))

    def insert(task_id: str) -> TaskRecord:
        now = timezone.now()
        return TaskRecord.objects.create(
            id=task_id, task_path=task_path, backend="default", queue_name="default", args=["benchmark"],
            enqueued_at=now, check_after=now,
        )

    def insert_alone() -> None:
        insert(uuid.uuid4().hex)

    def outbox_by_hand() -> None:
        with transaction.atomic():
            row = insert(uuid.uuid4().hex)
        body = TaskPayload(task_path, row.id, row.args, row.kwargs, row.enqueued_at).encode()
        reused.create_task(parent=where.queue, task=raw_task(row.id, body))

    def enqueue_autocommit() -> None:
        record.enqueue("benchmark")

    def enqueue_in_transaction() -> None:
        with transaction.atomic():
            record.enqueue("benchmark")

    paths = {
        "raw client, reused": raw_reused,
        "raw client, new per call": raw_new_client,
        "INSERT of a task row alone": insert_alone,
        BY_HAND: outbox_by_hand,
        "enqueue, autocommit (row, then CreateTask)": enqueue_autocommit,
        IN_TRANSACTION: enqueue_in_transaction,
    }
    for warm_up in paths.values():
        timed(warm_up, 50)
    measured: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(arguments.rounds):
        for name, path in paths.items():
            measured[name] += timed(path, arguments.tasks // arguments.rounds, cpu[name])

    rows = [
        (name, f"{rate(samples):.0f}", *milliseconds(samples), f"{1000 * statistics.median(cpu[name]):.2f}")
        for name, samples in measured.items()
    ]
    if arguments.database == POSTGRESQL:  # SQLite writes one at a time: threads only queue for its lock
        threads = arguments.threads
        rows.append((f"enqueue in a transaction, {threads} threads at once",
                     f"{concurrent_rate(enqueue_in_transaction, arguments.tasks, threads):.0f}", "", "", "", ""))
    print(f"\n## {DATABASES[arguments.database]}: enqueue, {arguments.tasks} calls per path in "
          f"{arguments.rounds} rounds ({machine()})\n")
    print(table(("path", "tasks/s", "p50 ms", "p99 ms", "max ms", "CPU p50 ms"), rows))
    by_hand, in_transaction = measured[BY_HAND], measured[IN_TRANSACTION]
    mean_ratio = rate(by_hand) / rate(in_transaction)
    median_ratio = statistics.median(in_transaction) / statistics.median(by_hand)
    # CPU time of this thread leaves out waiting (on the disk, the emulator, other
    # processes), which on a shared machine varies far more than the backend's own work.
    own_cpu = statistics.median(cpu[IN_TRANSACTION]) - statistics.median(cpu[BY_HAND])
    print(
        f"\nEnqueue in a transaction takes {mean_ratio:.2f}x the outbox by hand's time per task "
        f"({100 * (mean_ratio - 1):+.0f}%; at the median {median_ratio:.2f}x). The backend's own work, in CPU "
        f"time at the median: {1e6 * own_cpu:.0f} us per task"
    )
    return {"by_hand": rate(by_hand), "enqueue": rate(in_transaction), "own_cpu": own_cpu}


def concurrent_rate(operation: Callable[[], object], count: int, threads: int) -> float:
    """Tasks/s of `threads` threads doing `operation` `count` times in all."""
    from django.db import connections

    def one_thread(share: int) -> None:
        try:
            timed(operation, share)
        finally:
            connections.close_all()

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one_thread, [count // threads] * threads))
    return (count // threads) * threads / (time.perf_counter() - started)


def request_waits(where: Environment, arguments: argparse.Namespace) -> None:
    """What web requests that enqueue wait, with Cloud Tasks up, hung, then down (for good)."""
    from django.db.models import F
    from django.test import Client, override_settings
    from django.utils import timezone

    from cloudtasks.enqueue.outbox import SEND_CLAIM
    from cloudtasks.models import TaskRecord
    from tests.django import cloud_tasks_emulator

    def left_for_the_flush(since: datetime) -> int:
        """Tasks enqueued since then that their request left for the flush: made due before
        the flush would have looked at them anyway (a sent one is not marked sent)."""
        return TaskRecord.objects.filter(
            enqueued_at__gte=since, sent_at=None, check_after__lt=F("enqueued_at") + SEND_CLAIM
        ).count()

    with override_settings(ROOT_URLCONF="tests.django.taskapp.urls"):
        client = Client()

        def request(count: int) -> Callable[[], None]:
            def get() -> None:
                # secure: as Cloud Run's front end forwards requests (no HTTPS redirect)
                assert client.get(f"/enqueue/{count}/", secure=True).status_code == 200
            return get

        requests, children = arguments.requests, arguments.children
        timed(request(1), 20)
        since = timezone.now()
        one, many = [("up (no task enqueued)", *milliseconds(timed(request(0), requests)))], []
        for state in ("up", "hung (SIGSTOP)", "down (stopped)"):
            if state.startswith("hung"):
                where.emulator.freeze()
            elif state.startswith("down"):
                where.emulator.thaw()
                cloud_tasks_emulator.stop(where.emulator)
            one.append((state, *milliseconds(timed(request(1), 20 if state.startswith("hung") else requests))))
            many.append((state, *milliseconds(timed(request(children), 3))))
    left = left_for_the_flush(since)
    print(f"\nA web request enqueueing one task in its transaction ({requests} requests; 20 when hung)\n")
    print(table(("Cloud Tasks", "request p50 ms", "p99 ms", "max ms"), one))
    print(f"\nA web request enqueueing {children} tasks in its transaction (3 requests)\n")
    print(table(("Cloud Tasks", "request p50 ms", "p99 ms", "max ms"), many))
    print(f"\nTasks the requests left pending, due for the next flush: {left}")


if __name__ == "__main__":
    main()

"""What enqueueing costs, with the outbox, beside the raw Cloud Tasks client; and what a web
request waits when Cloud Tasks is up, down or hung.

    uv run python benchmarks/enqueue.py [--tasks N] [--threads T] [--requests R]

Everything against the Cloud Tasks emulator (gRPC on loopback) and a PostgreSQL server
that commits to disk (benchmarks/harness.py), in one run, so the baselines share the
machine's state:

- raw client, reused: `CloudTasksClient.create_task` with one client for every call;
- raw client, new per call: a client (and channel) made for each call, as many recipes
  do (against Google, each would also fetch an access token);
- INSERT of a task row alone (autocommit): what the outbox may add;
- enqueue, autocommit: `task.enqueue` outside a transaction (row, then CreateTask);
- enqueue in a transaction: `with atomic(): task.enqueue(...)` (row, commit, CreateTask);
- concurrent: T threads enqueueing in transactions at once (tasks/s of all of them).

Then web requests (Django's handler, in process) to a view that enqueues one task in
its transaction, beside the same view enqueueing none, with Cloud Tasks up, stopped
(connection refused) and frozen (SIGSTOP: connections hang); the send budget is the
default, 0.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from harness import environment, machine, milliseconds, table

import grpc  # noqa: E402


def timed(operation: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000, help="calls per measurement (default 1000)")
    parser.add_argument("--threads", type=int, default=8, help="threads for the concurrent measurement (default 8)")
    parser.add_argument("--requests", type=int, default=200, help="requests per Cloud Tasks state (default 200; 20 when hung)")
    arguments = parser.parse_args()

    with environment() as where:
        from django.db import connections, transaction
        from django.test import Client, override_settings
        from django.utils import timezone
        from django.utils.crypto import get_random_string
        from google.cloud import tasks_v2
        from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

        from cloudtasks.client import cloud_tasks_client
        from cloudtasks.models import TaskRecord
        from cloudtasks.payload import TaskPayload
        from tests.django import cloud_tasks_emulator
        from tests.django.backend_settings import HANDLER_URL, INVOKER
        from tests.django.taskapp.tasks import record

        body = TaskPayload("tests.django.taskapp.tasks.record", "x" * 32, ["benchmark"], {}, timezone.now()).encode()

        def raw_task() -> tasks_v2.Task:
            return tasks_v2.Task(
                name=f"{where.queue}/tasks/{uuid.uuid4().hex}",
                http_request=tasks_v2.HttpRequest(
                    url=HANDLER_URL, http_method=tasks_v2.HttpMethod.POST, body=body,
                    headers={"Content-Type": "application/json"},
                    oidc_token=tasks_v2.OidcToken(service_account_email=INVOKER, audience=HANDLER_URL),
                ),
            )

        reused = cloud_tasks_client(where.emulator.address)

        def raw_reused() -> None:
            reused.create_task(parent=where.queue, task=raw_task())

        def raw_new_client() -> None:
            with grpc.insecure_channel(where.emulator.address) as channel:
                client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
                client.create_task(parent=where.queue, task=raw_task())

        def insert_alone() -> None:
            TaskRecord(
                id=get_random_string(32), task_path="tests.django.taskapp.tasks.record", backend="default",
                queue_name="default", args=["benchmark"], enqueued_at=timezone.now(), check_after=timezone.now(),
            ).save(force_insert=True)

        def insert_then_raw() -> None:
            insert_alone()
            raw_reused()

        def enqueue_autocommit() -> None:
            record.enqueue("benchmark")

        def enqueue_in_transaction() -> None:
            with transaction.atomic():
                record.enqueue("benchmark")

        count = arguments.tasks
        for warm_up in (raw_reused, raw_new_client, insert_alone, enqueue_in_transaction):
            timed(warm_up, 50)
        measured = {
            "raw client, reused": timed(raw_reused, count),
            "raw client, new per call": timed(raw_new_client, count),
            "INSERT of a task row alone": timed(insert_alone, count),
            "INSERT, then raw client (the outbox by hand)": timed(insert_then_raw, count),
            "enqueue, autocommit (row, then CreateTask)": timed(enqueue_autocommit, count),
            "enqueue in a transaction (row, commit, CreateTask)": timed(enqueue_in_transaction, count),
        }

        def one_thread(share: int) -> None:
            try:
                timed(enqueue_in_transaction, share)
            finally:
                connections.close_all()

        threads = arguments.threads
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one_thread, [count // threads] * threads))
        concurrent_rate = (count // threads) * threads / (time.perf_counter() - started)

        rows = [(name, f"{len(s) / sum(s):.0f}", *milliseconds(s)) for name, s in measured.items()]
        rows.append((f"enqueue in a transaction, {threads} threads at once", f"{concurrent_rate:.0f}", "", "", ""))
        print(f"Enqueue, {count} calls each ({machine()})\n")
        print(table(("path", "tasks/s", "p50 ms", "p99 ms", "max ms"), rows))
        median = {name: statistics.median(samples) for name, samples in measured.items()}
        raw = median["raw client, reused"]
        by_hand = median["INSERT, then raw client (the outbox by hand)"]
        in_transaction = median["enqueue in a transaction (row, commit, CreateTask)"]
        print(
            f"\nAt the median: enqueue in a transaction costs {1000 * (in_transaction - raw):.2f} ms more than the "
            f"raw reused call (one INSERT alone: {1000 * median['INSERT of a task row alone']:.2f} ms); the "
            f"backend's own work is {1000 * (in_transaction - by_hand):.2f} ms over the outbox by hand, "
            f"{100 * (in_transaction - by_hand) / raw:.0f}% of the raw reused call"
        )

        with override_settings(ROOT_URLCONF="tests.django.taskapp.urls"):
            client = Client()

            def request(count_: int) -> Callable[[], None]:
                def get() -> None:
                    # secure: as Cloud Run's front end forwards requests (no HTTPS redirect)
                    assert client.get(f"/enqueue/{count_}/", secure=True).status_code == 200
                return get

            requests = arguments.requests
            timed(request(1), 20)
            rows = [
                ("up (no task enqueued)", *milliseconds(timed(request(0), requests))),
                ("up", *milliseconds(timed(request(1), requests))),
            ]
            where.emulator.freeze()
            rows.append(("hung (SIGSTOP)", *milliseconds(timed(request(1), min(requests, 20)))))
            where.emulator.thaw()
            cloud_tasks_emulator.stop(where.emulator)
            rows.append(("down (stopped)", *milliseconds(timed(request(1), requests))))
        pending = TaskRecord.objects.filter(sent_at=None, send_failures__gt=0).count()
        print(f"\nA web request enqueueing one task in its transaction ({requests} requests; 20 when hung)\n")
        print(table(("Cloud Tasks", "request p50 ms", "p99 ms", "max ms"), rows))
        print(f"\nTasks left pending for the flush when the send failed: {pending}")


if __name__ == "__main__":
    main()

"""How soon an enqueued task starts, and what its run record costs.

    uv run python benchmarks/latency.py [--tasks N]

- Latency: N tasks, one at a time, each enqueued (in a transaction) and pushed by the
  Cloud Tasks emulator over real HTTP to the web service as it runs in production
  (gunicorn, config/gunicorn.py, 2 workers); measured from `enqueue` returning to the
  task's record saying it started (the worker's clock is this machine's).
- Record cost: the same trivial task run N times by the runner in this process, with
  its run record (claim and lease, the task in a transaction with its success) and
  without (as a schedule's task runs: no record, no transaction), one after the other.

On the benchmark's PostgreSQL, which commits to disk (benchmarks/harness.py).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from harness import environment, machine, milliseconds, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=500, help="tasks per measurement (default 500)")
    arguments = parser.parse_args()
    count = arguments.tasks

    from tests.django.loopback import free_port

    port = free_port()
    with environment(handler_url=f"http://127.0.0.1:{port}/tasks/run/", paused=False):
        import os

        from django.db import connection
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from cloudtasks.models import TaskRecord
        from cloudtasks.run.runner import Delivery, run, run_declared
        from cloudtasks.wire.payload import TaskPayload
        from tests.django.taskapp.tasks import record
        from tests.django.web_process import WebProcess

        server = WebProcess(port, {key: os.environ[key] for key in os.environ if key.startswith(("CLOUD_TASKS", "DATABASE"))})
        server.start()
        try:
            latencies = []
            for n in range(count + 20):
                result = record.enqueue(f"latency {n}")
                returned = datetime.now(UTC)
                while (started := TaskRecord.objects.filter(pk=result.id).values_list("started_at", flat=True)[0]) is None:
                    time.sleep(0.001)
                if n >= 20:  # the first ones warm up the workers and connections
                    latencies.append((started - returned).total_seconds())
        finally:
            server.stop()

        def payload(n: int) -> TaskPayload:
            return TaskPayload(record.module_path, f"cost-{n}", [f"cost {n}"], {}, timezone.now(),
                               backend="default", queue_name="default", priority=0)

        for n in range(count + 20):  # as enqueue leaves them: a row each, to be run
            TaskRecord.objects.create(
                id=f"cost-{n}", task_path=record.module_path, backend="default", queue_name="default",
                args=[f"cost {n}"], enqueued_at=timezone.now(), check_after=timezone.now(),
            )
        delivery = Delivery(worker_id="benchmark", attempt=1)

        def timed(operation) -> list[float]:
            samples = []
            for n in range(count + 20):
                started = time.perf_counter()
                operation(n)
                samples.append(time.perf_counter() - started)
            return samples[20:]

        recorded = timed(lambda n: run(payload(n), delivery))
        unrecorded = timed(lambda n: run_declared(payload(n), attempt=1))
        with CaptureQueriesContext(connection) as queries:
            TaskRecord.objects.create(id="cost-counted", task_path=record.module_path, backend="default",
                                      queue_name="default", args=["counted"], enqueued_at=timezone.now(),
                                      check_after=timezone.now())
            before = len(queries)
            run(TaskPayload(record.module_path, "cost-counted", None, None), delivery)
            statements = len(queries) - before

    print(f"Latency and record cost, {count} tasks each ({machine()})\n")
    print(table(("from enqueue returning to the task starting", "p50 ms", "p99 ms", "max ms"),
                [("emulator + HTTP to gunicorn", *milliseconds(latencies))]))
    print()
    print(table(("running a trivial task in the runner", "p50 ms", "p99 ms", "max ms"), [
        ("with its run record (claim, lease, task and success in one transaction)", *milliseconds(recorded)),
        ("without (a schedule's task: no record)", *milliseconds(unrecorded)),
    ]))
    added = statistics.median(recorded) - statistics.median(unrecorded)
    print(f"\nThe run record adds {1000 * added:.2f} ms per task at the median "
          f"({statements} SQL statements, two transactions: the claim, and the task with its success).")


if __name__ == "__main__":
    main()

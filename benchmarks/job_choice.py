"""What it costs a job execution to choose its task (`run_task --queue`) as records pile up.

    uv run python benchmarks/job_choice.py [--rows N] [--backlog B] [--choices C]

On a PostgreSQL server that commits to disk (benchmarks/harness.py): N finished job task
records (SUCCESSFUL, one attempt each), a backlog of B HTTP tasks waiting (READY, on the
same queue), 100 READY job tasks waiting, then C choices of each kind, each in a
transaction rolled back so that every one chooses from the same rows:

- a new execution: the oldest READY job task of the queue, due, not yet attempted
  (`FOR UPDATE SKIP LOCKED`);
- a retried execution: the task its earlier attempt took (by its last attempt's worker).

Measured with the indexes of migration 0003_job_executions, then with them dropped (what
each choice would cost without them).
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from harness import environment, machine, milliseconds, table

WAITING = 100
BATCH = 5000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="finished job task records (default 200,000)")
    parser.add_argument("--backlog", type=int, default=50_000, help="HTTP tasks waiting (default 50,000)")
    parser.add_argument("--choices", type=int, default=200, help="choices per measurement (default 200)")
    arguments = parser.parse_args()

    with environment():
        from django.db import connection, transaction
        from django.tasks import TaskResultStatus
        from django.utils import timezone

        from cloudtasks.models import TaskRecord
        from cloudtasks.run import job_tasks

        now = timezone.now()

        finished_until, backlog_until = arguments.rows, arguments.rows + arguments.backlog
        total = backlog_until + WAITING

        def record(index: int) -> TaskRecord:
            finished = index < finished_until
            moment = now - timedelta(seconds=total - index)
            attempts = [{"worker_id": f"worker-{index:07d}/0/0", "started_at": moment.isoformat(), "finished_at": None,
                         "generation": 0, "delivery_attempt": 1, "error": None}] if finished else []
            return TaskRecord(
                id=f"task-{index:07d}", task_path="tests.django.taskapp.tasks.insert_effect",
                backend="default" if finished_until <= index < backlog_until else "jobs",
                queue_name="default", args=["x"], kwargs={}, enqueued_at=moment, check_after=moment, sent_at=moment,
                status=TaskResultStatus.SUCCESSFUL if finished else TaskResultStatus.READY,
                started_at=moment if finished else None, attempts=attempts,
            )

        started = time.perf_counter()
        for first in range(0, total, BATCH):
            TaskRecord.objects.bulk_create([record(i) for i in range(first, min(first + BATCH, total))])
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE cloudtasks_taskrecord")
        print(f"{total:,} records written in {time.perf_counter() - started:.1f} s; {machine()}")

        def choices(earlier: list[str]) -> list[float]:
            samples = []
            for _ in range(arguments.choices):
                with transaction.atomic():
                    began = time.perf_counter()
                    chosen = job_tasks.next_for_execution("jobs", "default", earlier)
                    samples.append(time.perf_counter() - began)
                    assert chosen is not None
                    transaction.set_rollback(True)
            return samples

        retried = [f"worker-{arguments.rows // 2:07d}/0/0"]
        rows = [("with the indexes", *milliseconds(choices([]))[:2], *milliseconds(choices(retried))[:2])]
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX cloudtasks_ready_idx; DROP INDEX cloudtasks_last_worker_idx")
        rows.append(("without them", *milliseconds(choices([]))[:2], *milliseconds(choices(retried))[:2]))
        print(table(["", "new execution p50 ms", "p99 ms", "retried execution p50 ms", "p99 ms"], rows))


if __name__ == "__main__":
    main()

"""django-tasks-db's side of benchmarks/throughput.py, run in the peer's own environment
(django-tasks-db installed, this project's packages not):

    python -m benchmarks.throughput_app.peer setup
    python -m benchmarks.throughput_app.peer hold TASK COUNT      # COUNT tasks on queue "hold"
    python -m benchmarks.throughput_app.peer enqueue MODE COUNT   # prints JSON

MODE: "sequential" (each enqueue its own transaction), "threads" (8 threads at once), or
"transaction" (all in one transaction, the peer's nearest to a bulk enqueue).
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

THREADS = 8
HOLD = "hold"


def main(command: str, *arguments: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.throughput_app.peer_settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections, transaction

    from benchmarks.throughput_app import tasks

    if command == "setup":
        call_command("migrate", run_syncdb=True, verbosity=0)
    elif command == "hold":
        task, count = getattr(tasks, arguments[0]).using(queue_name=HOLD), int(arguments[1])
        with transaction.atomic():
            for n in range(count):
                task.enqueue(*_arguments(task, n))
    elif command == "enqueue":
        mode, count = arguments[0], int(arguments[1])

        def enqueue_some(numbers: range) -> None:
            for n in numbers:
                tasks.noop.enqueue()

        def enqueue_in_thread(numbers: range) -> None:
            enqueue_some(numbers)
            connections.close_all()

        started, cpu = time.perf_counter(), time.process_time()
        if mode == "sequential":
            enqueue_some(range(count))
        elif mode == "threads":
            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(enqueue_in_thread, [range(i, count, THREADS) for i in range(THREADS)]))
        elif mode == "transaction":
            with transaction.atomic():
                enqueue_some(range(count))
        else:
            raise SystemExit(f"mode {mode!r} is not one of sequential, threads, transaction")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(json.dumps({"tasks_per_second": count / elapsed, "cpu_per_task": cpu / count}))
    else:
        raise SystemExit(f"command {command!r} is not one of setup, hold, enqueue")


def _arguments(task: object, n: int) -> tuple[int, ...]:
    return (n,) if task.name == "one_write" else ()


if __name__ == "__main__":
    main(*sys.argv[1:])

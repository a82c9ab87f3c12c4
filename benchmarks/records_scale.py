"""The task records at a million: the admin's list, `list_tasks`, the table's size, the prune.

    uv run python benchmarks/records_scale.py [--records N] [--runs R]

On the durable PostgreSQL of benchmarks/harness.py: N records (default 1,000,000; made by
PostgreSQL itself, shaped like production's: tests/django/many_records.py) written at the
schema of migration 0002_run_records, then VACUUM ANALYZE (as autovacuum leaves a table),
then the later migrations (timed: the indexes they build on a full table). Then, each R
times after one warm-up, as a superuser signed in through Django's test client (the whole
request: middleware, every query, the templates):

- the admin's list of tasks: its first page, a later page, filtered by status, queue and
  task, searched by an id and by the start of a task path;
- `manage.py list_tasks` (every state), and `--state failed`;

and the table's size per million records (heap with its TOAST, and indexes). Last, the
prune, if the code has one: everything past the default retention (about half the
records), then a run with nothing to do.

To measure other code (the code before a change), run this file and many_records.py from
an export of it: docs/performance.md shows how.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from io import StringIO

from harness import environment, machine, table

CHANGELIST = "/admin/cloudtasks/taskrecord/"
PAGES = {
    "first page": {},
    "page 5": {"p": "5"},
    "filtered by status (FAILED)": {"status__exact": "FAILED"},
    "filtered by queue (long)": {"queue_name__exact": "long"},
    "filtered by task": {"task_path__exact": "reports.tasks.rebuild_report"},
    "search by id": None,  # the id of record 123,457
    "search by task path prefix (billing.tasks.)": {"q": "billing.tasks."},
}


def duration(operation: Callable[[], object]) -> float:
    started = time.perf_counter()
    operation()
    return time.perf_counter() - started


def timed(operation: Callable[[], object], runs: int) -> list[float]:
    operation()  # warm-up: connections, caches, the first template compile
    return [duration(operation) for _ in range(runs)]


def measured(operation: Callable[[], object], runs: int) -> tuple[str, str, str]:
    """Median and max of `runs` runs, and how long one run spent in the database, in ms."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    samples = timed(operation, runs)
    with CaptureQueriesContext(connection) as queries:
        operation()
    in_database = sum(float(query["time"]) for query in queries)
    return f"{1000 * statistics.median(samples):.1f}", f"{1000 * max(samples):.1f}", f"{1000 * in_database:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records in the table (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each measurement (default 5)")
    arguments = parser.parse_args()
    count, runs = arguments.records, arguments.runs

    with environment():
        from django.conf import settings
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.utils import timezone

        from tests.django import many_records

        # Pages name static files as they are, and WhiteNoise serves none: nothing was
        # collected (as in the tests).
        settings.STORAGES = {**settings.STORAGES,
                             "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
        settings.STATIC_ROOT = None
        call_command("migrate", "cloudtasks", "0002_run_records", verbosity=0)
        with connection.cursor() as cursor:
            filled = duration(lambda: many_records.fill(cursor, count, timezone.now()))
            cursor.execute("VACUUM ANALYZE cloudtasks_taskrecord")
        migrated = duration(lambda: call_command("migrate", verbosity=0))
        print(f"{machine()}; {count:,} records written in {filled:.1f} s; later migrations took {migrated:.1f} s\n")

        client = Client(headers={"X-Forwarded-Proto": "https"})  # as Cloud Run sends it; plain HTTP is redirected
        client.force_login(User.objects.create_superuser("bench", "bench@example.com", "not-used"))
        PAGES["search by id"] = {"q": many_records.record_id(123_457)}

        def page(query: dict[str, str]) -> Callable[[], None]:
            def get() -> None:
                answer = client.get(CHANGELIST, query)
                assert answer.status_code == 200, (query, answer.status_code)
            return get

        def list_tasks(*args: str) -> Callable[[], None]:
            return lambda: call_command("list_tasks", *args, stdout=StringIO())

        rows = [(f"admin: {name}", *measured(page(query), runs)) for name, query in PAGES.items()]
        rows += [("list_tasks (every state)", *measured(list_tasks(), runs)),
                 ("list_tasks --state failed", *measured(list_tasks("--state", "failed"), runs))]
        print(table(("request", "median ms", "max ms", "of which in the database (one run)"), rows))

        print(f"\nSize per million records ({count:,} here):\n")
        print(table(("part", "MB per million"), sizes(connection, count)))

        try:
            from cloudtasks.operations.prune import prune
        except ImportError:
            print("\nThis code has no prune.")
            return
        reports = []
        took = duration(lambda: reports.append(prune(time_limit=3600)))
        deleted = sum(reports[0].deleted.values())
        idle = timed(prune, runs)
        print(f"\nPrune: {deleted:,} records deleted in {took:.1f} s ({deleted / took:,.0f} per second); "
              f"with nothing to delete: median {1000 * statistics.median(idle):.1f} ms")


def sizes(connection, count: int) -> list[tuple[str, str]]:
    per_million = 1_000_000 / count / 2**20
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT pg_table_size('cloudtasks_taskrecord'), pg_indexes_size('cloudtasks_taskrecord'),
                   pg_total_relation_size('cloudtasks_taskrecord')
        """)
        [(heap, indexes, total)] = cursor.fetchall()
        cursor.execute("""
            SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index
            WHERE indrelid = 'cloudtasks_taskrecord'::regclass ORDER BY 1
        """)
        each = cursor.fetchall()
    rows = [("table (heap and TOAST)", heap), ("indexes", indexes), ("total", total)]
    rows += [(f"  index {name}", size) for name, size in each]
    return [(name, f"{size * per_million:.0f}") for name, size in rows]


if __name__ == "__main__":
    main()

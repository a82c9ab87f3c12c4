"""The admin's list, `list_tasks` and the prune on a table big enough for PostgreSQL's
planner to choose as it would at a million records: 50,000 records (tests/django/
many_records.py). Every query they make of the records is served by an index: its plan
(EXPLAIN) scans the table through one, never sequentially. Nothing here is timed; the
times are benchmarks/records_scale.py's (docs/performance.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cloudtasks.operations.prune import prune
from tests.django import many_records
from tests.django.backend_settings import tasks_setting

RECORDS = 50_000
TABLE = "cloudtasks_taskrecord"
CHANGELIST = "/admin/cloudtasks/taskrecord/"
QUEUES = {"default": "projects/example-project/locations/europe-west1/queues/default",
          "long": "projects/example-project/locations/europe-west1/queues/long"}
NOW = timezone.now()


@pytest.fixture(scope="module")
def many(django_db_setup, django_db_blocker) -> Iterator[None]:
    """RECORDS records, committed for the module's tests (each runs in a transaction of
    its own, rolled back), removed after them."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        many_records.fill(cursor, RECORDS, NOW)
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}")


@pytest.fixture(autouse=True)
def backends(settings, many, db):
    settings.TASKS = tasks_setting(QUEUES, emulator_host="127.0.0.1:1")


def scans(sql: str) -> list[str]:
    """How the plan of `sql` reads the records: its nodes that scan the table."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        [[plan]] = cursor.fetchall()
    found, nodes = [], [(json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node.get("Relation Name") == TABLE:
            found.append(f"{node['Node Type']} {node.get('Index Name', '')}".strip())
    return found


def record_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries if TABLE in q["sql"] and not q["sql"].startswith("TRUNCATE")]


def assert_served_by_indexes(queries: CaptureQueriesContext) -> None:
    planned = {sql: scans(sql) for sql in record_queries(queries)}
    assert planned, "no query of the records was made"
    sequential = {sql: plan for sql, plan in planned.items() if any(scan.startswith("Seq Scan") for scan in plan)}
    assert sequential == {}


def midnight(days_ago: int) -> str:
    return datetime.combine(timezone.localdate() - timedelta(days=days_ago), time(), tzinfo=timezone.get_current_timezone()).isoformat()


PAGES = {
    "first page": {},
    "a later page": {"p": "7"},
    "failed": {"status__exact": "FAILED"},
    "ready": {"status__exact": "READY"},
    "a queue": {"queue_name__exact": "long"},
    "a task": {"task_path__exact": "reports.tasks.rebuild_report"},
    "failed on a queue": {"status__exact": "FAILED", "queue_name__exact": "long"},
    "the past 7 days": {"enqueued_at__gte": midnight(7), "enqueued_at__lt": midnight(-1)},
    "search by id": {"q": many_records.record_id(12_345)},
    "search by task path prefix": {"q": "billing.tasks."},
    "sorted by id": {"o": "1"},
    "oldest first": {"o": "6"},
    "sorted by finished_at, by hand": {"o": "7"},  # not offered: ignored
}


@pytest.mark.parametrize("query", PAGES.values(), ids=PAGES.keys())
def test_every_query_of_an_admin_list_page_is_served_by_an_index(admin_client, query):
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(CHANGELIST, query)

    assert page.status_code == 200
    assert_served_by_indexes(queries)


def test_the_list_counts_up_to_a_thousand_and_says_there_are_more(admin_client):
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(CHANGELIST).content.decode()

    assert "more than 1000 tasks" in page
    assert page.count('name="_selected_action"') == 100
    assert not [sql for sql in record_queries(queries) if "COUNT(*)" in sql and "LIMIT 1001" not in sql]


def test_a_search_finds_an_id_exactly_and_a_task_path_by_its_start(admin_client):
    by_id = admin_client.get(CHANGELIST, {"q": many_records.record_id(12_345)}).content.decode()
    by_prefix = admin_client.get(CHANGELIST, {"q": "reports.tasks.rebuild"}).content.decode()
    by_middle = admin_client.get(CHANGELIST, {"q": "tasks.rebuild_report"}).content.decode()

    assert by_id.count('name="_selected_action"') == 1
    assert "reports.tasks.rebuild_report" in by_prefix and "more than 1000 tasks" in by_prefix
    assert "0 tasks" in by_middle


def test_the_filters_offer_the_configured_queues_and_the_declared_tasks(admin_client):
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(CHANGELIST).content.decode()

    assert "?queue_name__exact=long" in page and "?task_path__exact=cloudtasks.tasks.prune_records" in page
    assert not [sql for sql in record_queries(queries) if "DISTINCT" in sql]


@pytest.mark.parametrize("state", ["pending", "running", "failed", "stuck"])
def test_every_query_of_list_tasks_is_served_by_an_index(state, capsys):
    with CaptureQueriesContext(connection) as queries:
        call_command("list_tasks", "--state", state)

    assert capsys.readouterr().out.startswith(f"{state}: ")
    assert_served_by_indexes(queries)


def test_list_tasks_counts_up_to_a_thousand(capsys):
    call_command("list_tasks", "--state", "failed")

    assert capsys.readouterr().out.startswith("failed: more than 1000\n")


def test_every_query_of_the_prune_is_served_by_an_index():
    # At a moment when the oldest records have just aged past the retention: one batch.
    with CaptureQueriesContext(connection) as queries:
        report = prune(now=NOW - timedelta(days=28))

    assert 0 < report.deleted["default"] < 1000
    assert_served_by_indexes(queries)


def test_the_records_have_the_indexes_these_queries_use_and_not_the_pattern_index_of_their_ids():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [TABLE])
        indexes = {name for (name,) in cursor.fetchall()}

    assert indexes >= {
        "cloudtasks_taskrecord_pkey", "cloudtasks_status_idx", "cloudtasks_enqueued_idx", "cloudtasks_queue_idx",
        "cloudtasks_task_path_idx", "cloudtasks_unfinished_idx", "cloudtasks_finished_idx",
    }
    # Django's second index of a CharField primary key, for LIKE on ids, which nothing uses.
    assert not [name for name in indexes if name.endswith("_like")]

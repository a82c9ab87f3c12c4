"""The prune deletes the records of tasks that finished longer ago than their backend's
RETENTION, and nothing else: in batches, within a time limit, beside other prunes and
whatever else holds a record. Records that have not finished cannot be deleted at all.

Records are written as the runner leaves them, with their finish dated back.
"""

from __future__ import annotations

import itertools
import logging
import threading
from datetime import timedelta

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.tasks import TaskResultStatus
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cloudtasks.config import env
from cloudtasks.exceptions import TaskNotFinished
from cloudtasks.models import TaskRecord
from cloudtasks.operations import prune as prune_module
from cloudtasks.operations.prune import prune
from tests.django.backend_settings import tasks_setting
from tests.django.job_execution import DEPLOYED, start_manage_py

QUEUE = "projects/example-project/locations/europe-west1/queues/default"
SUCCESSFUL, FAILED = TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED
READY, RUNNING = TaskResultStatus.READY, TaskResultStatus.RUNNING
_ids = itertools.count()


@pytest.fixture(autouse=True)
def backends(settings, transactional_db):
    # "default" keeps finished records the default 31 days, "jobs" 60.
    settings.TASKS = tasks_setting(QUEUE, emulator_host="127.0.0.1:1")
    settings.TASKS["jobs"]["OPTIONS"]["RETENTION"] = timedelta(days=60)


def records(count: int = 1, *, status: str = SUCCESSFUL, days_ago: float = 40, backend: str = "default") -> set[str]:
    """`count` records of `backend` in `status`, finished (or, if unfinished, enqueued)
    `days_ago`; their ids."""
    moment = timezone.now() - timedelta(days=days_ago)
    finished = status in (SUCCESSFUL, FAILED)
    made = TaskRecord.objects.bulk_create(
        TaskRecord(
            id=f"{backend}-{status.lower()}-{days_ago:g}d-{next(_ids)}", task_path="tests.django.taskapp.tasks.record",
            backend=backend, queue_name="default", enqueued_at=moment - timedelta(minutes=1), check_after=moment,
            status=status, finished_at=moment if finished else None, sent_at=moment - timedelta(minutes=1),
        )
        for _ in range(count)
    )
    return {record.pk for record in made}


def left() -> set[str]:
    return set(TaskRecord.objects.values_list("pk", flat=True))


@pytest.mark.both_databases
def test_the_prune_deletes_exactly_the_finished_records_past_their_backends_retention():
    gone = (
        records(status=SUCCESSFUL, days_ago=32) | records(status=FAILED, days_ago=32)
        | records(backend="jobs", days_ago=61)
        | records(backend="retired", days_ago=32)  # a backend TASKS no longer has: the default 31 days
    )
    kept = (
        records(status=SUCCESSFUL, days_ago=30) | records(status=FAILED, days_ago=30)
        | records(backend="jobs", days_ago=32)
        | records(backend="retired", days_ago=30)
        | records(status=READY, days_ago=400) | records(status=RUNNING, days_ago=400)
    )
    # Unfinished, with the finish of an attempt before it was re-driven.
    TaskRecord.objects.filter(status=READY).update(finished_at=timezone.now() - timedelta(days=400))

    report = prune()

    assert left() == kept
    assert report.deleted == {"default": 2, "jobs": 1, "retired": 1}
    assert not report.stopped_early
    assert gone.isdisjoint(left())


def test_a_run_deletes_in_batches_until_its_time_limit_and_the_next_goes_on(monkeypatch):
    monkeypatch.setattr(prune_module, "BATCH", 10)
    records(25)
    records(25, backend="jobs", days_ago=61)

    first = prune(time_limit=0)  # one batch of each backend, then the time is up
    second = prune()

    assert (first.deleted, first.stopped_early) == ({"default": 10, "jobs": 10}, True)
    assert (second.deleted, second.stopped_early) == ({"default": 15, "jobs": 15}, False)
    assert left() == set()


def test_with_nothing_to_prune_a_run_costs_two_queries_per_backend_and_one_more():
    records(10, days_ago=1)
    records(10, backend="jobs", days_ago=1)

    with CaptureQueriesContext(connection) as queries:
        report = prune()

    statements = [q["sql"].split()[0] for q in queries if q["sql"] not in ("BEGIN", "COMMIT")]
    # Each backend found (and that there is no other), then each one's empty batch.
    assert statements == ["SELECT"] * (3 + 2)
    assert report.deleted == {"default": 0, "jobs": 0}


def test_a_prune_leaves_the_records_another_transaction_holds_without_waiting_for_them(database):
    held = records(5)
    free = records(20)
    with psycopg.connect(database.url) as other:  # a re-drive, or another prune, mid-transaction
        other.execute("SELECT id FROM cloudtasks_taskrecord WHERE id = ANY(%s) FOR UPDATE", [list(held)])
        reports = []
        pruning = threading.Thread(target=lambda: reports.append(prune()))
        pruning.start()
        pruning.join(timeout=60)
        finished_while_held = not pruning.is_alive()
        other.rollback()
    pruning.join()

    assert finished_while_held
    assert reports[0].deleted == {"default": 20}
    assert left() == held
    assert prune().deleted == {"default": 5}  # once let go of
    assert free.isdisjoint(left())


PRUNES = 4


@pytest.mark.both_databases
def test_concurrent_prunes_delete_each_record_once_and_all_of_them(database):
    records(3000)
    records(100, days_ago=1)
    variables = {**DEPLOYED, env.DATABASE_URL: database.url}

    processes = [start_manage_py("prune_tasks", variables=variables) for _ in range(PRUNES)]
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [p.returncode for p in processes] == [0] * PRUNES, outputs
    deleted = [int(out.strip().removeprefix("pruned: default=")) for out, _ in outputs]
    assert sum(deleted) == 3000, outputs
    assert TaskRecord.objects.count() == 100


@pytest.mark.both_databases
def test_records_of_unfinished_tasks_cannot_be_deleted_and_nothing_is():
    finished = records(status=SUCCESSFUL, days_ago=1)
    [waiting] = records(status=READY, days_ago=1)

    with pytest.raises(TaskNotFinished, match=rf"Task records {waiting} are not finished \(READY or RUNNING\)"):
        TaskRecord.objects.all().delete()
    with pytest.raises(TaskNotFinished, match=waiting):
        TaskRecord.objects.get(pk=waiting).delete()

    assert left() == finished | {waiting}


def test_records_of_finished_tasks_may_be_deleted():
    [done] = records(status=FAILED, days_ago=1)

    assert TaskRecord.objects.get(pk=done).delete() == (1, {"cloudtasks.TaskRecord": 1})
    assert left() == set()


def test_a_dry_run_says_what_it_would_prune_and_deletes_nothing(capsys):
    records(2)
    records(3, backend="jobs", days_ago=61)
    before = left()

    call_command("prune_tasks", "--dry-run")

    out = capsys.readouterr().out
    assert out.startswith("would prune: default=2 (finished before ")
    assert " jobs=3 (finished before " in out
    assert left() == before


def test_the_command_prunes_and_says_how_many(capsys):
    records(2)

    call_command("prune_tasks")

    assert capsys.readouterr().out == "pruned: default=2\n"
    assert left() == set()


@pytest.mark.both_databases
def test_the_schedule_runs_the_prune_which_logs_one_line(caplog):
    records(2)
    records(1, backend="jobs", days_ago=1)

    with caplog.at_level(logging.INFO, logger="cloudtasks.operations.prune"):
        call_command("run_task", "--task", "cloudtasks.tasks.prune_records")

    [line] = [r for r in caplog.records if r.name == "cloudtasks.operations.prune"]
    assert line.getMessage() == "Records pruned: default=2 jobs=0"
    assert TaskRecord.objects.count() == 1

"""One bad row stops nothing else: rows written by an earlier version, or by hand, that
cannot be read back or handled.

An earlier version stored a pushed task's times as the payload gave them: year 1 at
+14:00 is before year 1 in UTC, which PostgreSQL stores and Python cannot read. Every
flush that claimed such a row crashed, and the tasks claimed beside it were never sent;
the admin's list answered 500, and `get_result` raised. Such rows are written here with
SQL, as the earlier version (or a person) wrote them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import grpc
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.tasks import task_backends
from django.utils import timezone

from cloudtasks.models import TaskRecord
from cloudtasks.operations.flush import MAX_BACKOFF, SET_ASIDE, flush
from cloudtasks.wire import moments
from tests.django import enqueued_tasks
from tests.django.backend_settings import tasks_setting

QUEUE = "projects/example-project/locations/europe-west1/queues/default"
BESIDE = 50  # good rows claimed in the same batch as the bad one
TABLE = TaskRecord._meta.db_table


@pytest.fixture(autouse=True)
def backends_on_fake(settings, fake_cloud_tasks, transactional_db):
    settings.TASKS = tasks_setting(QUEUE, emulator_host=fake_cloud_tasks.address)


def pending(count: int) -> list[str]:
    """`count` tasks recorded as enqueue records them, due for the flush to send; their ids."""
    now = timezone.now()
    TaskRecord.objects.bulk_create(
        TaskRecord(id=f"t-{n}", task_path=enqueued_tasks.greet.module_path, backend="default", queue_name="default",
                   args=[f"user {n}"], kwargs={}, enqueued_at=now, check_after=now)
        for n in range(count)
    )
    return [f"t-{n}" for n in range(count)]


def write(record_id: str, column: str, value: str) -> None:
    """Set `column` of the row with SQL, as an earlier version or a person could."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET {column} = %s WHERE id = %s", [value, record_id])


def sent(fake_cloud_tasks) -> set[str]:
    return {name.rsplit("/", 1)[1] for name in fake_cloud_tasks.names()}


def errors_about(record_id: str, caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and repr(record_id) in r.getMessage()]


def test_a_time_python_cannot_read_is_repaired_and_the_flush_sends_every_row(fake_cloud_tasks, caplog):
    bad, *beside = pending(BESIDE + 1)
    write(bad, "enqueued_at", "0001-01-01T00:00:00+14:00")  # PostgreSQL keeps it: 0001-12-31 10:00 BC in UTC

    with caplog.at_level(logging.ERROR, logger="cloudtasks"):
        report = flush()

    assert (report.sent, report.set_aside) == (BESIDE + 1, 0)
    assert sent(fake_cloud_tasks) == {bad, *beside}
    assert TaskRecord.objects.get(pk=bad).enqueued_at == moments.EARLIEST
    [logged] = errors_about(bad, caplog)
    assert "Repaired: enqueued_at was before 0001-01-02T00:00:00+00:00, which cannot be read back" in logged


def test_once_the_flush_repaired_it_the_admin_lists_it_and_get_result_reads_it(fake_cloud_tasks, client):
    [bad] = pending(1)
    write(bad, "enqueued_at", "0001-01-01T00:00:00+14:00")
    flush()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "a-long-admin-password"))

    listed = client.get("/admin/cloudtasks/taskrecord/")

    assert listed.status_code == 200 and bad in listed.content.decode()
    assert task_backends["default"].get_result(bad).enqueued_at == moments.EARLIEST


@pytest.mark.both_databases
def test_a_row_that_cannot_be_read_even_so_is_set_aside_for_a_day_and_logged_once(fake_cloud_tasks, caplog):
    bad, *beside = pending(BESIDE + 1)
    write(bad, "args", "[not json")  # by hand
    now = timezone.now()

    with caplog.at_level(logging.ERROR, logger="cloudtasks"):
        first = flush(now=now)
        again = flush(now=now + timedelta(minutes=1))

    assert (first.sent, first.set_aside, again.set_aside) == (BESIDE, 1, 0)
    assert sent(fake_cloud_tasks) == set(beside)
    [logged] = errors_about(bad, caplog)
    assert f"Set aside by the flush until {(now + SET_ASIDE).isoformat()}: it cannot be read" in logged
    assert TaskRecord.objects.filter(pk=bad, check_after=now + SET_ASIDE, send_error=logged.split(": ", 1)[1]).exists()


def test_a_row_whose_handling_raises_is_set_aside_and_the_flush_goes_on(fake_cloud_tasks, caplog):
    bad, *beside = pending(BESIDE + 1)
    # RUNNING by hand, with no lease: the flush cannot tell until when a worker runs it.
    TaskRecord.objects.filter(pk=bad).update(status="RUNNING", sent_at=timezone.now(), lease_expires_at=None)

    with caplog.at_level(logging.ERROR, logger="cloudtasks"):
        report = flush()

    assert (report.sent, report.set_aside) == (BESIDE, 1)
    assert sent(fake_cloud_tasks) == set(beside)
    [logged] = errors_about(bad, caplog)
    assert "handling it raised TypeError" in logged


def test_a_task_that_failed_to_send_for_hours_is_still_backed_off(fake_cloud_tasks):
    [task_id] = pending(1)
    TaskRecord.objects.filter(pk=task_id).update(send_failures=42)  # 3.5 hours at the longest backoff
    fake_cloud_tasks.script[:] = [grpc.StatusCode.PERMISSION_DENIED]
    now = timezone.now()

    report = flush(now=now)

    assert (report.unsent, report.set_aside) == (1, 0)
    assert TaskRecord.objects.get(pk=task_id).check_after == now + MAX_BACKOFF


def test_upgrading_repairs_the_times_an_earlier_version_wrote(fake_cloud_tasks):
    call_command("migrate", "cloudtasks", "0002", verbosity=0)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (id, task_path, backend, queue_name, priority, args, kwargs, enqueued_at, status, "
                "generation, check_after, send_failures, send_error, attempts, lease_token, finished_at) VALUES "
                "('t-old', 'app.tasks.old', 'default', 'default', 0, '[1e20]', '{}', '0001-01-01T00:00:00+14:00', "
                "'SUCCESSFUL', 0, now(), 0, '', '[]', '', '10000-01-01T01:00:00+00:00')"
            )
    finally:
        call_command("migrate", "cloudtasks", verbosity=0)

    old = TaskRecord.objects.get(pk="t-old")
    assert (old.enqueued_at, old.finished_at) == (moments.EARLIEST, moments.LATEST)
    assert old.send_error.startswith(
        "Repaired: enqueued_at was before 0001-01-02T00:00:00+00:00, finished_at was after "
        "9999-12-30T23:59:59.999999+00:00"
    )
    assert old.args == [100000000000000000000]  # as jsonb had already made it: kept, not guessed back

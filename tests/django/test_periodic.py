"""Periodic tasks (cloudtasks.periodic): each run is a task record, once per time its
schedule fires, however often Cloud Scheduler fires it; a declaration Django cannot run
is reported by `manage.py check`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.checks import Error

from cloudtasks.checks import periodic_errors
from cloudtasks.config.schedules import Timetable
from cloudtasks.models import TaskRecord
from cloudtasks.periodic import Periodic
from cloudtasks.run import scheduled
from tests.django.job_execution import DEPLOYED, start_manage_py

NOTES = "tests.django.taskapp.tasks.note_run_then_sleep"


def test_two_firings_for_the_same_time_run_the_task_once_and_record_it_once(database, transactional_db, tmp_path):
    notes = tmp_path / "notes.txt"
    variables = {**DEPLOYED, "DATABASE_URL": database.url, "TESTS_PERIODIC_NOTES": str(notes)}

    # Cloud Scheduler delivering the same run twice: two executions at once, for one time.
    firings = [start_manage_py("run_task", "--periodic", "yearly-notes", variables=variables) for _ in range(2)]
    outputs = [firing.communicate(timeout=120) for firing in firings]

    assert [firing.returncode for firing in firings] == [0, 0], outputs
    assert notes.read_text().count("start ") == 1  # ran once
    [record] = TaskRecord.objects.filter(task_path=NOTES)
    assert (record.status, len(record.attempts)) == ("SUCCESSFUL", 1)
    assert record.enqueued_at == datetime(datetime.now(UTC).year, 1, 1, tzinfo=UTC)  # the time it was due
    said = sorted(out.strip().splitlines()[-1].split(") ", 1)[1] for out, _ in outputs)
    assert said == ["had already succeeded; not run again", "succeeded"]


def test_a_run_is_named_for_the_time_it_is_due_so_each_time_has_its_own_record(transactional_db):
    every_hour = Timetable.parse("30 * * * *", "UTC")

    def run_at(hour: int, minute: int) -> str:
        now = datetime(2026, 5, 4, hour, minute, tzinfo=UTC)
        return scheduled.payload("hourly", NOTES, ["x", 0], {}, every_hour, now=now, earlier_worker_ids=[]).task_id

    assert run_at(10, 30) == run_at(10, 31) == run_at(11, 29) == scheduled.run_id("hourly", datetime(2026, 5, 4, 10, 30, tzinfo=UTC))
    assert run_at(11, 30) != run_at(10, 30)


def errors_for(settings, *declared: Periodic) -> list[str]:
    settings.CLOUD_TASKS_PERIODIC = declared
    errors = periodic_errors()
    assert all(isinstance(e, Error) and e.id == "cloudtasks.E006" for e in errors)
    return [e.msg for e in errors]


def test_the_projects_own_declarations_check_cleanly(settings):
    from config.periodic import PERIODIC

    assert errors_for(settings, *PERIODIC) == []


@pytest.mark.parametrize(("declared", "problem"), [
    (Periodic("gone", task="tests.django.taskapp.tasks.no_such_task", schedule="* * * * *"),
     "CLOUD_TASKS_PERIODIC 'gone' cannot run: 'tests.django.taskapp.tasks.no_such_task' is not a task declared with @task"),
    (Periodic("wrong-queue", task="tests.django.taskapp.tasks.record", schedule="* * * * *", queue="long", args=["x"]),
     "CLOUD_TASKS_PERIODIC 'wrong-queue' runs on the worker job of queue 'long', but tests.django.taskapp.tasks.record "
     "is declared for queue 'default'; set queue='default'"),
    (Periodic("no-args", task="tests.django.taskapp.tasks.record", schedule="* * * * *"),
     "CLOUD_TASKS_PERIODIC 'no-args' cannot run: arguments do not fit tests.django.taskapp.tasks.record"),
])
def test_manage_py_check_reports_a_declaration_django_cannot_run(settings, declared, problem):
    [message] = errors_for(settings, declared)

    assert message.startswith(problem)


def test_manage_py_check_reports_a_setting_that_is_not_a_list_of_declarations(settings):
    settings.CLOUD_TASKS_PERIODIC = {"every-minute": "* * * * *"}

    [error] = periodic_errors()

    assert error.msg.startswith("CLOUD_TASKS_PERIODIC must be a list of cloudtasks.periodic.Periodic")

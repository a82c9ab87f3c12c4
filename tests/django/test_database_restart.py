"""PostgreSQL restarted (a Cloud SQL maintenance, a failover) while job executions run or
start: they wait for it within their queue's SLOT_WAIT, rather than fail at once.

Found by the soak (benchmarks/soak.py): a job task whose attempt ended while PostgreSQL
was down could not record it; Cloud Run's retries of its execution came within seconds,
each failed at once ("Connection refused"), and with the job's retries spent the task was
left RUNNING until the flush failed it for good, 13 minutes later.

A PostgreSQL server of this module's own, which the tests stop and start again on its
port and data; each execution is `manage.py run_task` in a process of its own, as a
Cloud Run job runs it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from django.utils import timezone

from cloudtasks.config import env
from cloudtasks.wire.payload import TaskPayload
from tests.django import limited_postgresql, postgresql_server
from tests.django.backend_settings import queues_variable
from tests.django.job_execution import DEPLOYED, LOCATION, start_manage_py
from tests.django.limited_postgresql import LimitedServer
from tests.django.live import wait_for

QUEUES = {"default": f"{LOCATION}/queues/worker", "long": f"{LOCATION}/queues/worker-long"}
SLOT_WAIT = 30
DOWN_SECONDS = 3
EXECUTION_TIMEOUT_SECONDS = 120


class Restartable:
    """The module's server; `current` is the one running now."""

    def __init__(self) -> None:
        self.current: LimitedServer = limited_postgresql.start(20)

    def stop(self) -> None:
        postgresql_server.stop_keeping_data(self.current.server)

    def start_again(self) -> None:
        self.current = replace(self.current, server=postgresql_server.start_again(self.current.server))

    def is_running(self) -> bool:
        return self.current.server.process.poll() is None


@pytest.fixture(scope="module")
def database() -> Iterator[Restartable]:
    restartable = Restartable()
    yield restartable
    limited_postgresql.stop(restartable.current)


@pytest.fixture
def fresh(database: Restartable) -> Iterator[Restartable]:
    """The server, running, with no task records or effects from an earlier test."""
    with database.current.admin() as connection:
        connection.execute("TRUNCATE cloudtasks_taskrecord, taskapp_effect")
    yield database
    if not database.is_running():
        database.start_again()


def execution(database: Restartable, label: str, seconds: float, *, attempt: int) -> subprocess.Popen[str]:
    """Attempt `attempt` of a job execution's task (one execution for the module: its
    attempts share its name, as Cloud Run's do), which inserts an effect and sleeps."""
    body = TaskPayload(
        "tests.django.taskapp.tasks.insert_then_sleep_on_first_attempt", "task-1", [label, seconds], {},
        enqueued_at=timezone.now(), backend="jobs", queue_name="default",
    ).encode().decode()
    return start_manage_py("run_task", "--payload", body, variables={
        **DEPLOYED, env.DATABASE_URL: database.current.url,
        env.QUEUES: queues_variable(QUEUES, max_running=2, slot_wait=SLOT_WAIT),
        env.EXECUTION: "worker-restart", env.TASK_INDEX: "0", env.TASK_ATTEMPT: str(attempt),
    })


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=EXECUTION_TIMEOUT_SECONDS)
    return process.returncode, stderr


def record(database: Restartable) -> tuple[str, list[str]] | None:
    """The task's status, and each attempt's error class (or "ok")."""
    with database.current.admin() as connection:
        row = connection.execute("SELECT status, attempts FROM cloudtasks_taskrecord").fetchone()
    if row is None:
        return None
    status, attempts = row
    return status, [(a.get("error") or {}).get("exception_class_path", "ok").rsplit(".", 1)[-1] for a in attempts]


def effects(database: Restartable) -> dict[str, int]:
    with database.current.admin() as connection:
        return dict(connection.execute("SELECT label, count(*) FROM taskapp_effect GROUP BY label").fetchall())


def test_an_execution_started_while_the_database_is_down_waits_for_it_and_runs_its_task(fresh):
    fresh.stop()
    waiting = execution(fresh, "started while down", 0, attempt=0)
    time.sleep(DOWN_SECONDS)
    assert waiting.poll() is None  # still waiting, not failed (before: exit 1, "Connection refused")

    fresh.start_again()

    code, stderr = finished(waiting)
    assert code == 0, stderr
    assert "Waiting for a database slot of queue 'default' (the database is unavailable: connection failed:" in stderr
    assert record(fresh) == ("SUCCESSFUL", ["ok"])
    assert effects(fresh) == {"started while down": 1}


def test_a_retry_of_an_attempt_that_ended_while_the_database_was_down_waits_and_takes_the_task_over(fresh):
    first = execution(fresh, "ended while down", 3, attempt=0)
    wait_for(lambda: record(fresh) == ("RUNNING", ["ok"]), "the first attempt to run its task")
    fresh.stop()  # its transaction and its lease renewal end with the server

    code, stderr = finished(first)  # its task ended while the server was down: nothing recorded
    assert code != 0
    retry = execution(fresh, "ended while down", 3, attempt=1)  # as Cloud Run retries it, at once
    time.sleep(DOWN_SECONDS)
    # before: exit 1 at once, and so every retry: the task left RUNNING
    assert retry.poll() is None, finished(retry)
    fresh.start_again()

    code, stderr = finished(retry)
    assert code == 0, stderr
    assert record(fresh) == ("SUCCESSFUL", ["WorkerLost", "ok"])
    assert effects(fresh) == {"ended while down": 1}  # the first attempt's write died with its transaction

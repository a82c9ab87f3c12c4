"""At the database's connection limit, job executions wait for a slot; none fails to start.

A PostgreSQL server of this module's own allows exactly what the stack's connection
budget counts for MAX_RUNNING running executions (stacks/connection_budget.py), and the
app connects to it as an ordinary role, as on Cloud SQL (tests/django/limited_postgresql.py).
Each execution is `manage.py run_task` in a process of its own, as a Cloud Run job runs
it, with a lease short enough that it is renewed while the task runs.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db.utils import ConnectionHandler, OperationalError
from django.utils import timezone

from cloudtasks.config import env
from cloudtasks.postgresql.base import REFUSED_WAIT_SECONDS
from cloudtasks.run import slots
from cloudtasks.wire.payload import TaskPayload
from stacks.connection_budget import CONNECTIONS_PER_PROCESS, POLL_HEADROOM, SUPERUSER_RESERVED_CONNECTIONS
from tests.django import limited_postgresql
from tests.django.backend_settings import queues_variable
from tests.django.job_execution import DEPLOYED, LOCATION, start_manage_py
from tests.django.limited_postgresql import LimitedServer
from tests.django.live import wait_for

MAX_RUNNING = 3
# What the budget counts for MAX_RUNNING executions, and no more.
MAX_CONNECTIONS = SUPERUSER_RESERVED_CONNECTIONS + MAX_RUNNING * CONNECTIONS_PER_PROCESS + POLL_HEADROOM
APP_CONNECTIONS = MAX_CONNECTIONS - SUPERUSER_RESERVED_CONNECTIONS
EXECUTIONS = 12  # more than the slots, and more than the server would let connect at once
QUEUES = {"default": f"{LOCATION}/queues/worker", "long": f"{LOCATION}/queues/worker-long"}
LEASE = 0.9  # renewed every 0.3 s
EXECUTION_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def limited() -> Iterator[LimitedServer]:
    server = limited_postgresql.start(MAX_CONNECTIONS)
    yield server
    limited_postgresql.stop(server)


@pytest.fixture
def fresh(limited: LimitedServer) -> LimitedServer:
    """The limited server, with no task records or effects from an earlier test."""
    with limited.admin() as connection:
        connection.execute("TRUNCATE cloudtasks_taskrecord, taskapp_effect")
    return limited


def execution(limited: LimitedServer, task_id: str, label: str, seconds: float, *, max_running: int = MAX_RUNNING,
              slot_wait: float = 60) -> subprocess.Popen[str]:
    """A job execution of a job task on the default queue, which inserts an effect and sleeps."""
    body = TaskPayload(
        "tests.django.taskapp.tasks.insert_then_sleep", task_id, [label, seconds], {}, enqueued_at=timezone.now(),
        backend="jobs", queue_name="default",
    ).encode().decode()
    variables = {
        **DEPLOYED, env.DATABASE_URL: limited.url, "TESTS_TASK_LEASE": str(LEASE),
        env.QUEUES: queues_variable(QUEUES, max_running=max_running, slot_wait=slot_wait),
    }
    return start_manage_py("run_task", "--payload", body, variables=variables)


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=EXECUTION_TIMEOUT_SECONDS)
    return process.returncode, stderr


def effects(limited: LimitedServer) -> dict[str, int]:
    with limited.admin() as connection:
        return dict(connection.execute("SELECT label, count(*) FROM taskapp_effect GROUP BY label").fetchall())


def statuses(limited: LimitedServer) -> dict[str, str]:
    with limited.admin() as connection:
        return dict(connection.execute("SELECT id, status FROM cloudtasks_taskrecord").fetchall())


def test_more_executions_than_slots_all_run_their_task_once_and_none_fails_to_start(fresh):
    with fresh.watch() as peaks:
        started = [execution(fresh, f"task-{index}", f"effect-{index}", 1.5) for index in range(EXECUTIONS)]
        ended = [finished(process) for process in started]

    assert [code for code, _ in ended] == [0] * EXECUTIONS, [stderr for code, stderr in ended if code][:1]
    assert effects(fresh) == {f"effect-{index}": 1 for index in range(EXECUTIONS)}
    assert set(statuses(fresh).values()) == {"SUCCESSFUL"}
    assert 1 < peaks.slots_held <= MAX_RUNNING
    # Each running execution's lease renewal: one connection of its own process.
    assert peaks.renewal_connections_of_one_process == 1
    assert peaks.renewal_connections <= MAX_RUNNING


def test_an_execution_waits_while_the_server_refuses_connections_and_then_runs(fresh):
    others = [fresh.app_connection() for _ in range(APP_CONNECTIONS)]  # the server is full
    waiting = execution(fresh, "task-at-the-limit", "at the limit", 0)
    try:
        wait_for(lambda: fresh.refusals() > 0, "the execution's connection to be refused")
        time.sleep(1)
        assert waiting.poll() is None  # still waiting, not failed
        assert statuses(fresh) == {}
    finally:
        for other in others:
            other.close()

    code, stderr = finished(waiting)
    assert code == 0, stderr
    assert effects(fresh) == {"at the limit": 1}


def test_a_killed_execution_frees_its_slot_for_one_that_waits(fresh):
    killed = execution(fresh, "task-killed", "killed", 60, max_running=1)
    wait_for(lambda: statuses(fresh) == {"task-killed": "RUNNING"}, "the first execution to run its task")
    waiting = execution(fresh, "task-next", "next", 0, max_running=1)
    time.sleep(3)
    assert waiting.poll() is None
    assert "task-next" not in statuses(fresh)

    killed.send_signal(signal.SIGKILL)  # its session ends with it, and its slot with that
    killed.wait()

    code, stderr = finished(waiting)
    assert code == 0, stderr
    assert effects(fresh) == {"next": 1}  # the killed task's write died with its transaction


def test_an_execution_that_finds_no_slot_within_its_wait_exits_non_zero_having_claimed_nothing(fresh):
    with fresh.admin() as holder:
        holder.execute("SELECT pg_advisory_lock(%s, 0)", [slots.queue_key(QUEUES["default"])])  # the one slot
        code, stderr = finished(execution(fresh, "task-no-slot", "no slot", 0, max_running=1, slot_wait=1))

    assert code != 0
    assert "no database slot of queue 'default' came free within its SLOT_WAIT of 1 s (all 1 are taken)" in stderr
    assert "The task was not started" in stderr
    assert (statuses(fresh), effects(fresh)) == ({}, {})


# --- The web service's connections: Django's backend, waiting out a refusal -----------------


@pytest.fixture
def limited_connections(limited, django_db_blocker) -> Iterator[ConnectionHandler]:
    """Django's connections to the limited server, as the project's settings make them."""
    import dj_database_url

    config = {**dj_database_url.parse(limited.url), "ENGINE": "cloudtasks.postgresql"}
    handler = ConnectionHandler({"default": config})
    with django_db_blocker.unblock():
        yield handler
        handler.close_all()


def test_a_connection_the_server_refuses_at_its_limit_is_tried_again_until_a_slot_frees(limited,
                                                                                       limited_connections):
    others = [limited.app_connection() for _ in range(APP_CONNECTIONS)]
    threading.Timer(0.5, others.pop().close).start()  # a poll, say, that ends
    started = time.monotonic()
    try:
        limited_connections["default"].ensure_connection()
    finally:
        for other in others:
            other.close()

    assert 0.4 < time.monotonic() - started < REFUSED_WAIT_SECONDS


def test_a_database_that_stays_full_is_an_error_after_the_wait_naming_the_refusal(limited, limited_connections):
    others = [limited.app_connection() for _ in range(APP_CONNECTIONS)]
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError, match="remaining connection slots are reserved"):
            limited_connections["default"].ensure_connection()
    finally:
        for other in others:
            other.close()

    assert REFUSED_WAIT_SECONDS / 2 < time.monotonic() - started <= REFUSED_WAIT_SECONDS + 1


def test_other_connection_errors_are_not_waited_out(limited, limited_connections):
    limited_connections["default"].settings_dict["PASSWORD"] = "wrong"
    started = time.monotonic()

    with pytest.raises(OperationalError, match="password authentication failed"):
        limited_connections["default"].ensure_connection()
    assert time.monotonic() - started < REFUSED_WAIT_SECONDS / 2


def test_the_app_role_is_no_superuser_so_the_limit_applies_to_it(limited):
    with psycopg.connect(limited.url) as connection:
        assert connection.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)

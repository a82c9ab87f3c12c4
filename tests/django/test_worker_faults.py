"""A worker killed or stopped while it runs a task: the task is neither lost nor stuck,
and its effect happens once.

The web service runs as in production, gunicorn with config/gunicorn.py, in a process
of its own (tests/django/web_process.py), with a 2 s lease; an emulator that retries
for long pushes to it. A job execution is `manage.py run_task` in a process of its own.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from django.tasks import TaskResultStatus

from cloudtasks.config import env
from cloudtasks.models import TaskRecord
from cloudtasks.run import shutdown
from tests.django import cloud_tasks_emulator
from tests.django.backend_settings import queues_variable
from tests.django.conftest import configure_local_run, local_run_variables
from tests.django.job_execution import start_manage_py
from tests.django.live import wait_for
from tests.django.loopback import free_port
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect
from tests.django.web_process import WebProcess

LEASE = 2.0
GRACEFUL_TIMEOUT = 3  # gunicorn's, here: the task is interrupted 1.5 s after SIGTERM


@pytest.fixture(scope="module")
def patient_emulator(tmp_path_factory) -> Iterator[cloud_tasks_emulator.Emulator]:
    """An emulator that retries a failed push for about a minute (every ~100 ms)."""
    started = cloud_tasks_emulator.start(max_retries=600, log=tmp_path_factory.mktemp("emulator") / "emulator.log")
    yield started
    cloud_tasks_emulator.stop(started)


@pytest.fixture
def web(settings, database, transactional_db, patient_emulator, local_signing_key) -> Iterator[WebProcess]:
    """gunicorn serving the project on the test database, as a local run's process; tasks
    enqueued here go through the emulator to it."""
    queue = patient_emulator.create_queue(paused=False)
    port = free_port()
    server = WebProcess(port, local_run_variables(
        patient_emulator.address, local_signing_key,
        **{env.DATABASE_URL: database.url, env.QUEUES: queues_variable({"default": queue, "long": queue}),
           env.HANDLER_URL: f"http://127.0.0.1:{port}/tasks/run/", "TESTS_TASK_LEASE": str(LEASE)},
    ), gunicorn_args=f"--graceful-timeout {GRACEFUL_TIMEOUT}")
    configure_local_run(settings, server.url, patient_emulator.address, local_signing_key,
                        {"default": queue, "long": queue})
    server.start()
    yield server
    server.stop()
    patient_emulator.delete_queue(queue)


def running(task_id: str) -> bool:
    return TaskRecord.objects.get(pk=task_id).status == TaskResultStatus.RUNNING


def succeeded(task_id: str) -> bool:
    return TaskRecord.objects.get(pk=task_id).status == TaskResultStatus.SUCCESSFUL


def test_a_worker_killed_mid_task_the_task_completes_after_the_lease_once(web):
    result = tasks.insert_then_sleep_on_first_attempt.enqueue("killed", 60)
    wait_for(lambda: running(result.id), "the first attempt to start")

    web.kill()
    web.start()  # Cloud Tasks keeps pushing; the new server answers 409 until the lease expires

    wait_for(lambda: succeeded(result.id), "the task to be taken over and finish")
    record = TaskRecord.objects.get(pk=result.id)
    assert [a["error"]["exception_class_path"] if a["error"] else None for a in record.attempts] == [
        "cloudtasks.exceptions.WorkerLost", None
    ]
    # The killed attempt's write died with its transaction.
    assert Effect.objects.filter(label="killed").count() == 1
    assert not TaskRecord.objects.filter(status=TaskResultStatus.RUNNING).exists()


def test_a_worker_stopped_mid_task_gives_its_lease_back_and_the_task_runs_again_at_once(web):
    result = tasks.insert_then_sleep_on_first_attempt.enqueue("stopped", 60)
    wait_for(lambda: running(result.id), "the first attempt to start")

    stopped_in = web.terminate()

    record = TaskRecord.objects.get(pk=result.id)
    assert stopped_in < GRACEFUL_TIMEOUT + 1
    assert (record.status, record.lease_token) == (TaskResultStatus.READY, "")
    assert record.attempts[0]["error"]["exception_class_path"] == "cloudtasks.run.shutdown.Interrupted"
    assert Effect.objects.filter(label="stopped").count() == 0
    web.start()
    wait_for(lambda: succeeded(result.id), "the next delivery to run it")
    assert Effect.objects.filter(label="stopped").count() == 1


def test_a_job_execution_stopped_mid_task_gives_its_lease_back(
    job_execution_args, database, transactional_db
):
    args = job_execution_args(tasks.insert_then_sleep_on_first_attempt, "job stopped", 60)
    task_id = TaskRecord.objects.get().pk
    from tests.django.job_execution import DEPLOYED

    execution = start_manage_py("run_task", *args, variables={**DEPLOYED, env.DATABASE_URL: database.url})
    wait_for(lambda: running(task_id), "the job's task to start")
    started = time.monotonic()
    execution.send_signal(signal.SIGTERM)  # Cloud Run stops the execution
    _, stderr = execution.communicate(timeout=30)

    assert time.monotonic() - started < shutdown.DEFAULT_GRACE + shutdown.HAND_BACK_SECONDS
    assert execution.returncode != 0
    assert "interrupted: the execution is stopping; its lease is given back" in stderr
    record = TaskRecord.objects.get(pk=task_id)
    assert (record.status, Effect.objects.count()) == (TaskResultStatus.READY, 0)

"""Effectively once, end to end: duplicate deliveries through the emulator and over
HTTP, the same job execution run twice, flaky tasks, and a task that exhausts its
queue's retries. Enqueued through django.tasks; the emulator pushes to a live server.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections import Counter

from django.tasks import TaskResultStatus, task_backends
from django.utils import timezone

from cloudtasks.auth.local_signing import configured_signer, task_binding
from cloudtasks.enqueue.task_request import build_request
from cloudtasks.models import TaskRecord
from cloudtasks.signals import task_failed_permanently
from tests.django.backend_settings import INVOKER
from tests.django.conftest import configure_local_run
from tests.django.job_execution import DEPLOYED
from tests.django.live import wait_for
from tests.django.pushes import payload
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect

FLAKY = 200  # tasks, one in five failing its first attempt


def effects() -> Counter[str]:
    return Counter(Effect.objects.values_list("label", flat=True))


def finished(count: int) -> bool:
    return TaskRecord.objects.filter(status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED]).count() >= count


def test_the_same_task_pushed_twice_by_the_emulator_has_its_effect_once(local_run, tasks_emulator, caplog):
    result = tasks.insert_effect.enqueue("pushed twice")
    record = TaskRecord.objects.get(pk=result.id)
    # The emulator, unlike Cloud Tasks, takes a second task of the same name: a duplicate delivery.
    tasks_emulator.client.create_task(request=build_request(task_backends["default"].route("default"), record))

    with caplog.at_level(logging.INFO, logger="cloudtasks.views"):
        wait_for(lambda: f"Task {result.id} had already finished (SUCCESSFUL): not run again" in caplog.text,
                 "the second push")
    assert effects() == {"pushed twice": 1}
    assert len(TaskRecord.objects.get(pk=result.id).attempts) == 1


def test_the_same_job_execution_run_twice_has_its_effect_once(job_execution_args, run_job):
    args = job_execution_args(tasks.insert_effect, "run twice")
    execution = {**DEPLOYED, "CLOUD_RUN_EXECUTION": "worker-abc12", "CLOUD_RUN_TASK_INDEX": "0"}

    # Cloud Run runs the execution's task again (say its first attempt died after committing).
    first = run_job(*args, variables={**execution, "CLOUD_RUN_TASK_ATTEMPT": "0"})
    second = run_job(*args, variables={**execution, "CLOUD_RUN_TASK_ATTEMPT": "1"})

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "had already succeeded; not run again" in second.stdout
    assert effects() == {"run twice": 1}


def test_duplicates_pushed_at_once_have_their_effect_once(settings, local_run, web_server):
    record = TaskRecord.objects.create(  # as enqueue writes it, to be pushed by hand
        id="t-concurrent", task_path=tasks.insert_then_sleep.module_path, backend="default", queue_name="default",
        args=["at once", 0.5], kwargs={}, enqueued_at=timezone.now(), check_after=timezone.now(),
    )
    body = payload("insert_then_sleep", task_id=record.pk)
    # As the emulator pushes the task a local run created: with a token bound to it.
    token = configured_signer().mint(
        audience=task_backends["default"].route("default").target.audience, email=INVOKER,
        task=task_binding(record.pk, body),
    )
    answers: list[int] = []

    def deliver() -> None:
        request = urllib.request.Request(
            web_server.url + "/tasks/run/", data=body, method="POST",
            headers={"Content-Type": "application/json", "X-CloudTasks-QueueName": "default",
                     "X-CloudTasks-TaskName": record.pk, "Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answers.append(response.status)
        except urllib.error.HTTPError as error:
            answers.append(error.code)

    pushes = [threading.Thread(target=deliver) for _ in range(2)]
    for push in pushes:
        push.start()
    for push in pushes:
        push.join()
    deliver()  # Cloud Tasks retries the one answered 409

    assert sorted(answers[:2]) == [200, 409]
    assert answers[2] == 200
    assert effects() == {"at once": 1}


def test_flaky_tasks_all_finish_each_with_its_effect_once_and_their_attempts_recorded(local_run):
    for n in range(FLAKY):
        tasks.insert_failing_first.enqueue(f"flaky {n}", fail_first=n % 5 == 0)

    wait_for(lambda: finished(FLAKY), f"{FLAKY} tasks", seconds=60)

    assert effects() == {f"flaky {n}": 1 for n in range(FLAKY)}
    assert set(TaskRecord.objects.values_list("status", flat=True)) == {TaskResultStatus.SUCCESSFUL}
    retried = [r for r in TaskRecord.objects.all() if len(r.attempts) == 2]
    assert len(retried) == FLAKY // 5
    assert all(r.attempts[0]["error"]["exception_class_path"] == "builtins.RuntimeError" for r in retried)


def test_a_task_that_always_fails_ends_failed_after_the_queues_limit_with_the_signal_once(
    settings, web_server, tasks_emulator, tasks_queue, long_tasks_queue, transactional_db, local_signing_key
):
    retry = {"max_attempts": 3, "min_backoff": "0.1s", "max_backoff": "0.1s"}
    configure_local_run(settings, web_server.url, tasks_emulator.address, local_signing_key,
                        {"default": tasks_queue, "long": long_tasks_queue}, retry=retry)
    failures = []
    task_failed_permanently.connect(receiver := lambda sender, task_result, **kwargs: failures.append(task_result.id))
    try:
        result = tasks.explode.enqueue()
        wait_for(lambda: finished(1), "the task to fail for good")
        wait_for(lambda: not tasks_emulator.list_tasks(tasks_queue), "the queue to let go of it")
    finally:
        task_failed_permanently.disconnect(receiver)

    record = TaskRecord.objects.get(pk=result.id)
    assert (record.status, len(record.attempts)) == (TaskResultStatus.FAILED, 3)
    assert failures == [result.id]
    assert [call for call in tasks.calls if call[0] == "explode"] == [("explode", None)] * 3

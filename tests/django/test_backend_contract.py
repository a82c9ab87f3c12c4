"""Django's task backend contract, clause by clause, for CloudTasksBackend.

The clauses are the ones Django's own backends are tested for (django/tests/tasks/:
test_tasks.py, test_immediate_backend.py, test_dummy_backend.py and
test_custom_backend.py, as of Django 6.1) and that django/tasks/ documents. One test
per clause, named for it, so that a Django release that changes a clause fails the
test that names it. The first section pins the contract's surface itself (feature
flags, backend methods, Task options, TaskResult fields): what a new Django release
is most likely to grow.

Enqueueing goes to the Cloud Tasks emulator, into paused queues where what was sent
stays to be read. Running goes from the emulator over real HTTP into a live server's
push handler. Job executions (`run_task`) are in test_queue_routing and test_async_tasks.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import pickle
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.tasks import Task, TaskResult, TaskResultStatus, task, task_backends
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist, TaskResultMismatch
from django.tasks.signals import task_enqueued, task_finished, task_started
from django.utils import timezone

from cloudtasks.backend import CloudTasksBackend
from cloudtasks.run import runner
from cloudtasks.wire.payload import TaskPayload, decode
from tests.django import enqueued_tasks
from tests.django.backend_settings import tasks_setting
from tests.django.event_loop import run_async
from tests.django.live import wait_for
from tests.django.signal_log import receiving
from tests.django.taskapp import tasks


@pytest.fixture
def on_emulator(settings, transactional_db, tasks_emulator, paused_queues):
    """Both backends enqueue into paused emulator queues; returns a function listing what
    a queue ("default" or "long") holds."""
    settings.TASKS = tasks_setting(paused_queues, emulator_host=tasks_emulator.address)
    return lambda name="default": tasks_emulator.list_tasks(paused_queues[name])


@pytest.fixture
def signals() -> Iterator[list[tuple[str, type, TaskResult]]]:
    """(signal, sender, result) for each task signal sent, in order, from any thread."""
    seen: list[tuple[str, type, TaskResult]] = []
    with receiving({"enqueued": task_enqueued, "started": task_started, "finished": task_finished},
                   lambda name, sender, result: seen.append((name, sender, result))):
        yield seen


def sent(signals: list[tuple[str, type, TaskResult]], name: str) -> list[tuple[type, TaskResult]]:
    return [(sender, result) for signal, sender, result in signals if signal == name]


# --- The contract's surface ------------------------------------------------------------


def test_backend_declares_every_feature_flag_django_defines():
    flags = {name for name in vars(BaseTaskBackend) if name.startswith("supports_")}

    assert {flag: getattr(CloudTasksBackend, flag) for flag in flags} == {
        "supports_defer": True,
        "supports_async_task": True,
        "supports_get_result": True,
        "supports_priority": False,
    }


def test_backend_methods_django_defines_are_the_ones_this_backend_provides():
    methods = {name for name, value in vars(BaseTaskBackend).items() if inspect.isfunction(value) and name[0] != "_"}

    assert methods == {"validate_task", "enqueue", "aenqueue", "get_result", "aget_result", "check"}
    assert CloudTasksBackend.task_class is Task


def test_task_options_django_defines_are_the_ones_the_payload_carries():
    options = {field.name for field in dataclasses.fields(Task)} - {"func", "takes_context"}
    carried = {field.name for field in dataclasses.fields(TaskPayload)}

    assert options == {"priority", "backend", "queue_name", "run_after"}
    assert options <= carried


def test_task_result_fields_django_defines_are_the_ones_both_sides_fill():
    assert {field.name for field in dataclasses.fields(TaskResult)} == {
        "task", "id", "status", "enqueued_at", "started_at", "finished_at", "last_attempted_at",
        "args", "kwargs", "backend", "errors", "worker_ids", "_return_value",
    }


# --- Feature flags versus behaviour -----------------------------------------------------


def test_supports_defer_run_after_is_the_cloud_tasks_schedule_time(on_emulator):
    run_after = timezone.now() + timedelta(hours=2)

    enqueued_tasks.greet.using(run_after=run_after).enqueue("Ada")

    [queued] = on_emulator()
    assert queued.schedule_time == run_after


def test_supports_async_task_async_functions_are_valid_tasks_and_enqueue(on_emulator):
    result = tasks.arecord.enqueue("later")

    [queued] = on_emulator()
    assert decode(queued.http_request.body).task_path == tasks.arecord.module_path
    assert result.status == TaskResultStatus.READY


def test_supports_get_result_true_results_are_fetched_and_refreshed_every_way(on_emulator):
    result = enqueued_tasks.greet.enqueue("Ada")
    backend = task_backends["default"]

    fetched = [
        backend.get_result(result.id),
        run_async(backend.aget_result(result.id)),
        enqueued_tasks.greet.get_result(result.id),
        run_async(enqueued_tasks.greet.aget_result(result.id)),
    ]

    assert fetched == [result] * 4
    result.refresh()
    run_async(result.arefresh())
    assert result.status == TaskResultStatus.READY


def test_get_result_of_an_unknown_id_raises_task_result_does_not_exist(on_emulator):
    with pytest.raises(TaskResultDoesNotExist):
        task_backends["default"].get_result("no-such-task")
    with pytest.raises(TaskResultDoesNotExist):
        run_async(enqueued_tasks.greet.aget_result("no-such-task"))


def test_get_result_through_another_task_raises_task_result_mismatch(on_emulator):
    result = enqueued_tasks.greet.enqueue("Ada")

    with pytest.raises(TaskResultMismatch, match="Task does not match"):
        tasks.record.get_result(result.id)


def test_get_result_is_the_backends_own_tasks_only(on_emulator):
    result = enqueued_tasks.greet.enqueue("Ada")

    with pytest.raises(TaskResultDoesNotExist):
        task_backends["jobs"].get_result(result.id)


def test_supports_priority_false_a_priority_is_refused_and_the_default_accepted(on_emulator):
    with pytest.raises(InvalidTask, match="^Backend does not support setting priority of tasks"):
        enqueued_tasks.greet.using(priority=1)

    enqueued_tasks.greet.using(priority=0).enqueue("Ada")
    assert len(on_emulator()) == 1


# --- Validation: refused before anything is sent --------------------------------------


def not_at_module_level() -> None:
    def nested() -> None: ...

    return nested


def test_task_function_must_be_defined_at_module_level(on_emulator):
    with pytest.raises(InvalidTask, match="Task function must be defined at a module level"):
        task()(not_at_module_level())


def test_takes_context_needs_a_first_argument_named_context(on_emulator):
    with pytest.raises(InvalidTask, match="Task takes context but does not have a first argument of 'context'"):
        task(takes_context=True)(enqueued_tasks.greet.func)


@pytest.mark.parametrize("priority", [101, -101, 3.1])
def test_priority_outside_the_whole_numbers_from_minus_100_to_100_is_refused(on_emulator, priority):
    with pytest.raises(InvalidTask):
        enqueued_tasks.greet.using(priority=priority)


def test_run_after_must_be_aware(on_emulator):
    with pytest.raises(InvalidTask, match="run_after must be an aware datetime"):
        enqueued_tasks.greet.using(run_after=datetime.now())


def test_queue_name_must_be_one_the_backend_accepts(on_emulator):
    with pytest.raises(InvalidTask, match="^Queue 'queue-2' is not valid for backend"):
        enqueued_tasks.greet.using(queue_name="queue-2")


def test_backend_alias_must_be_in_tasks(on_emulator):
    with pytest.raises(InvalidTaskBackend, match="The connection 'unknown' doesn't exist"):
        enqueued_tasks.greet.using(backend="unknown")


def test_arguments_that_are_not_json_raise_type_error_as_djangos_backends_do(on_emulator):
    with pytest.raises(TypeError, match="Unsupported type"):
        enqueued_tasks.greet.enqueue(datetime.now())
    with pytest.raises(TypeError, match="Unsupported type"):
        run_async(enqueued_tasks.greet.aenqueue(datetime.now()))

    assert on_emulator() == []


def test_refused_task_sends_no_signal_and_nothing_to_cloud_tasks(on_emulator, signals):
    with pytest.raises(InvalidTask):
        enqueued_tasks.greet.enqueue(float("nan"))

    assert signals == []
    assert on_emulator() == []


# --- The result of enqueue ------------------------------------------------------------


def test_enqueue_returns_a_ready_result_describing_the_task(on_emulator):
    result = enqueued_tasks.greet.enqueue("Ada", punctuation=("?", "!"))

    assert result.task == enqueued_tasks.greet
    assert (result.status, result.backend) == (TaskResultStatus.READY, "default")
    assert (result.args, result.kwargs) == (["Ada"], {"punctuation": ["?", "!"]})  # as JSON carries them
    assert result.enqueued_at is not None and timezone.is_aware(result.enqueued_at)
    assert (result.started_at, result.last_attempted_at, result.finished_at) == (None, None, None)
    assert (result.errors, result.worker_ids, result.attempts, result.is_finished) == ([], [], 0, False)
    with pytest.raises(ValueError, match="Task has not finished yet"):
        result.return_value  # noqa: B018


def test_enqueue_result_id_is_unique_and_names_the_cloud_tasks_task(on_emulator, paused_queues):
    first, second = (enqueued_tasks.greet.enqueue(name) for name in ("Ada", "Grace"))

    assert first.id != second.id
    assert {queued.name for queued in on_emulator()} == {f"{paused_queues['default']}/tasks/{r.id}" for r in (first, second)}


def test_task_enqueued_is_sent_once_by_the_backend_class_with_the_result(on_emulator, signals):
    result = enqueued_tasks.greet.enqueue("Ada")

    assert sent(signals, "enqueued") == [(CloudTasksBackend, result)]


def test_enqueue_is_logged_with_the_task_id(on_emulator, caplog):
    with caplog.at_level(logging.DEBUG, logger="django.tasks"):
        result = enqueued_tasks.greet.enqueue("Ada")

    [line] = [r.getMessage() for r in caplog.records if r.name == "django.tasks"]
    assert "enqueued" in line and result.id in line


def test_enqueue_result_can_be_pickled(on_emulator):
    result = enqueued_tasks.greet.enqueue("Ada")

    assert pickle.loads(pickle.dumps(result)) == result


# --- using() ---------------------------------------------------------------------------


def test_using_returns_a_new_task_and_leaves_the_declared_one_alone(on_emulator):
    changed = enqueued_tasks.greet.using(queue_name="long", backend="jobs")

    assert (changed.queue_name, changed.backend) == ("long", "jobs")
    assert (enqueued_tasks.greet.queue_name, enqueued_tasks.greet.backend) == ("default", "default")


def test_every_option_given_to_chained_using_reaches_cloud_tasks(on_emulator):
    run_after = timezone.now() + timedelta(minutes=5)

    result = enqueued_tasks.greet.using(run_after=run_after).using(queue_name="long").using(backend="jobs").enqueue("Ada")

    assert on_emulator("default") == []
    [queued] = on_emulator("long")
    assert queued.schedule_time == run_after
    assert queued.http_request.url.endswith("/jobs/worker-long:run")
    assert result.backend == "jobs"
    assert (result.task.queue_name, result.task.run_after) == ("long", run_after)


# --- aenqueue --------------------------------------------------------------------------


def test_aenqueue_sends_the_task_and_returns_its_ready_result(on_emulator, signals):
    result = run_async(enqueued_tasks.greet.aenqueue("Ada"))

    [queued] = on_emulator()
    assert queued.name.endswith(f"/tasks/{result.id}")
    assert result.status == TaskResultStatus.READY
    assert sent(signals, "enqueued") == [(CloudTasksBackend, result)]


def test_aenqueue_refuses_what_enqueue_refuses(on_emulator):
    with pytest.raises(InvalidTask, match="Queue 'queue-2' is not valid"):
        run_async(enqueued_tasks.greet.using(queue_name="queue-2").aenqueue("Ada"))

    assert on_emulator() == []


# --- The run side: pushed by the emulator over HTTP to the handler --------------------


def finished(signals, task_id: str) -> TaskResult:
    wait_for(lambda: any(r.id == task_id for _, r in sent(signals, "finished")), f"task {task_id}")
    return next(r for _, r in sent(signals, "finished") if r.id == task_id)


# What describes the task that was enqueued: the same on both sides.
ENQUEUED_FIELDS = ("task", "id", "args", "kwargs", "backend", "enqueued_at")


def test_run_side_result_matches_the_enqueue_side_field_by_field(local_run, signals):
    run_after = timezone.now() + timedelta(seconds=1)

    enqueued = tasks.keep_result.using(queue_name="long", run_after=run_after).enqueue("fidelity")

    ran = finished(signals, enqueued.id)
    assert ran is tasks.results["fidelity"]  # what TaskContext.task_result was
    assert {f: getattr(ran, f) for f in ENQUEUED_FIELDS} == {f: getattr(enqueued, f) for f in ENQUEUED_FIELDS}
    assert (ran.task.backend, ran.task.queue_name, ran.task.priority, ran.task.run_after) == (
        "default", "long", 0, run_after
    )
    assert ran.status == TaskResultStatus.SUCCESSFUL
    assert ran.enqueued_at <= ran.started_at == ran.last_attempted_at <= ran.finished_at
    assert (len(ran.worker_ids), ran.attempts, ran.errors) == (1, 1, [])


def test_task_started_then_task_finished_are_sent_by_the_backend_class(local_run, signals):
    enqueued = tasks.record.enqueue("signals")

    finished(signals, enqueued.id)
    run_side = [(name, sender) for name, sender, result in signals if result.id == enqueued.id and name != "enqueued"]
    assert run_side == [("started", CloudTasksBackend), ("finished", CloudTasksBackend)]


def test_return_value_is_kept_as_json_would_carry_it(local_run, signals):
    enqueued = tasks.record.enqueue("returned")

    assert finished(signals, enqueued.id).return_value == "returned"


def test_task_that_raises_fails_with_its_exception_and_traceback_and_is_retried(local_run, signals, caplog):
    with caplog.at_level(logging.ERROR, logger="django.tasks"):
        enqueued = tasks.explode.enqueue()
        failed = finished(signals, enqueued.id)
        # The handler answered 500, so the queue retried it.
        wait_for(lambda: len([r for _, r in sent(signals, "started") if r.id == enqueued.id]) > 1, "a retry")

    assert failed.status == TaskResultStatus.FAILED
    with pytest.raises(ValueError, match="Task failed"):
        failed.return_value  # noqa: B018
    [error] = failed.errors
    assert error.exception_class is RuntimeError
    assert error.traceback.endswith("RuntimeError: task exploded\n")
    assert any("task exploded" in r.exc_text for r in caplog.records if r.name == "django.tasks" and r.exc_text)


def test_system_exit_fails_the_task_like_any_exception(local_run, signals):
    enqueued = tasks.exit_the_process.enqueue()

    [error] = finished(signals, enqueued.id).errors
    assert error.exception_class is SystemExit


def test_return_value_json_cannot_carry_fails_the_task_with_type_error(local_run, signals):
    enqueued = tasks.return_what_json_cannot_carry.enqueue()

    failed = finished(signals, enqueued.id)
    assert failed.status == TaskResultStatus.FAILED
    assert issubclass(failed.errors[0].exception_class, TypeError)


def test_keyboard_interrupt_is_not_taken_for_a_failure(db):
    # Run in this process: an interrupt is for whoever runs the runner.
    with pytest.raises(KeyboardInterrupt):
        runner.run(TaskPayload(tasks.interrupt.module_path, "t-interrupt"), runner.Delivery.push(0))


def test_run_side_logs_the_task_starting_and_finishing_with_its_id(local_run, signals, caplog):
    with caplog.at_level(logging.INFO, logger="django.tasks"):
        enqueued = tasks.record.enqueue("logged")
        finished(signals, enqueued.id)

    lines: list[Any] = [r.getMessage() for r in caplog.records if r.name == "django.tasks" and enqueued.id in r.getMessage()]
    assert [line.rsplit("state=", 1)[1] for line in lines] == ["RUNNING", "SUCCESSFUL"]

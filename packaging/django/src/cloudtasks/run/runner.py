"""The one task runner: used by the push handler and by the `run_task` command alike.

It runs only what was declared with `@task` in the `tasks` module of an installed
app. A payload arrives from outside the process, so its task path is never imported
blindly: a path outside those modules, or one naming anything but a Task, is refused.
The task is rebuilt as it was enqueued (backend, queue, priority, run_after), so that
`TaskContext.task_result` describes the task the enqueuing side sent.

A delivered task runs effectively once (docs/reliability.md):

- a task pushed over HTTP whose queue routes to a Cloud Run job is not run, nor its
  record touched: it runs only in its job's execution (RoutedToAJob);
- its record is claimed first (cloudtasks.run.records): a delivery of a task that already
  finished runs nothing; one that arrives while another worker holds the task's lease
  is answered "later"; a task whose worker died is taken over once its lease expired;
- the task runs inside a transaction that also marks it SUCCESSFUL, and commits only if
  this worker still holds the lease: its database writes happen once, or not at all
  (a task that wrote nothing is marked just after its empty transaction, which comes to
  the same with two fewer round trips); a task declared `@non_atomic` commits as it goes
  instead;
- a failed attempt is recorded, READY for the queue's next attempt, or FAILED for good
  on the queue's last attempt or the task's own (cloudtasks.limits), when the task
  raises PermanentFailure, when it can never run, or when its return value is not JSON
  (its effects are kept: it is not re-run); an attempt still running at the task's time
  limit is interrupted (TimeLimitExceeded, cloudtasks.run.shutdown) and fails so too;
  an attempt stopped by KeyboardInterrupt is recorded READY, its lease given back, and
  the interrupt raised on.

What lies outside the database (a mail sent, an API called) is not rolled back: an
attempt that did such a thing and then died before it committed does it again.
"""

from __future__ import annotations

import enum
import functools
import inspect
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver
from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus, task_backends
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import DEFAULT_TASK_BACKEND_ALIAS, TaskError
from django.tasks.exceptions import InvalidTaskBackend
from django.tasks.signals import task_finished, task_started
from django.utils import timezone

from cloudtasks.auth.accepted import http_queues
from cloudtasks.config import env
from cloudtasks.config.backends import cloud_tasks_options
from cloudtasks.config.options import DEFAULT_LEASE, JobTarget
from cloudtasks.config.task_limits import limits_of
from cloudtasks.exceptions import PermanentFailure, ReturnValueNotJson
from cloudtasks.models import TaskRecord
from cloudtasks.run import lease, records, shutdown
from cloudtasks.run.declared_tasks import UnrunnableTask, as_enqueued, resolve_task
from cloudtasks.run.results import refresh, result_of
from cloudtasks.signals import task_failed_permanently
from cloudtasks.wire import moments
from cloudtasks.wire.json_values import NotJson, json_value
from cloudtasks.wire.payload import TaskPayload


class RoutedToAJob(Exception):
    """A task pushed over HTTP whose queue routes to a Cloud Run job (someone with
    enqueue rights made an HTTP task of its payload): it runs only in its job's
    execution, which may still be waiting to start, so its record is left alone."""


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"  # ran now, and succeeded
    RETRY = "retry"  # an attempt failed: the queue (or the job) tries again
    FAILED = "failed"  # failed for good now: no more attempts
    DUPLICATE = "duplicate"  # it had finished before: nothing ran
    BUSY = "busy"  # another worker runs it now: deliver it again later
    INTERRUPTED = "interrupted"  # the process is stopping: its lease was given back
    LEASE_LOST = "lease lost"  # another worker took it over meanwhile: that one's outcome counts


@dataclass(frozen=True)
class Run:
    outcome: Outcome
    task_id: str
    result: TaskResult | None = None  # what the record holds now
    reason: str = ""


@dataclass(frozen=True)
class Delivery:
    """One delivery of a task: a push from Cloud Tasks, or an attempt of a job execution."""

    worker_id: str
    attempt: int  # as the queue (or the job) counts it, from 1
    # A job execution's "execution/task index/", which a later attempt of the same
    # execution shares: Cloud Run starts it only once the earlier one is over.
    job_task: str | None = None

    @classmethod
    def push(cls, retry_count: int) -> Delivery:
        return cls(worker_id=_this_process(), attempt=retry_count + 1)

    @classmethod
    def job_attempt(cls, environ: Mapping[str, str] = os.environ) -> Delivery:
        retries = int(environ.get(env.TASK_ATTEMPT, "0"))
        execution = environ.get(env.EXECUTION)
        if not execution:
            return cls(worker_id=_this_process(), attempt=retries + 1, job_task="")
        job_task = f"{execution}/{environ.get(env.TASK_INDEX, '0')}/"
        return cls(worker_id=f"{job_task}{retries}", attempt=retries + 1, job_task=job_task)

    @property
    def is_job(self) -> bool:
        return self.job_task is not None

    def vet(self, record: TaskRecord) -> None:
        """Refuse to push a task whose queue routes to a Cloud Run job (RoutedToAJob)."""
        if self.is_job:
            return
        try:
            target = task_backends[record.backend].route(record.queue_name).target
        except (InvalidTaskBackend, AttributeError, KeyError):
            return  # not routed anywhere here: the runner finds it unrunnable
        if isinstance(target, JobTarget):
            raise RoutedToAJob(
                f"task {record.pk} was enqueued on backend {record.backend!r}, queue {record.queue_name!r}, "
                f"which runs its tasks in Cloud Run job {target.job_path}, not over HTTP"
            )

    def takes_over(self, holder: str) -> bool:
        # An earlier attempt of this same job execution's task is over: Cloud Run
        # started this one after it ended (killed, or out of memory).
        return bool(self.job_task) and holder.startswith(self.job_task) and holder != self.worker_id

    def earlier_worker_ids(self) -> list[str]:
        """The worker ids of this job execution's task's earlier attempts: one per retry
        so far (none outside Cloud Run, where there is no execution to share)."""
        if not self.job_task:
            return []
        return [f"{self.job_task}{retries}" for retries in range(self.attempt - 1)]

    def is_last(self, task: Task, claim: records.Claim) -> bool:
        """Whether no attempt follows this one if it fails. When the queue's settings are
        not at hand, False: the flush finds the task FAILED once its queue gives up. The
        task's own max_attempts (cloudtasks.limits) counts its attempts in this generation."""
        generation = claim.record.generation
        max_attempts = limits_of(task).max_attempts
        if max_attempts is not None and sum(
            1 for attempt in claim.record.attempts if attempt.get("generation", 0) == generation
        ) >= max_attempts:
            return True
        try:
            target = task.get_backend().route(task.queue_name)
        except (InvalidTaskBackend, AttributeError, KeyError):
            return False
        if self.is_job:
            return self.attempt > getattr(target.target, "max_retries", 0)
        # Measured from this generation's first attempt that reached the runner: no
        # earlier than Cloud Tasks' first attempt, so never a last attempt too soon.
        first = min(datetime.fromisoformat(a["started_at"]) for a in claim.record.attempts
                    if a.get("generation", 0) == generation)
        since = claim.now() - first
        return target.retry.gives_up(self.attempt, since)


def run(payload: TaskPayload, delivery: Delivery) -> Run:
    """Run a delivered task, effectively once (see the module's docstring).

    A payload that can never run raises PayloadError, once recorded FAILED (if the
    task has a record, or can be given one). A push of a task its queue routes to a
    Cloud Run job raises RoutedToAJob, with nothing run or recorded."""
    claimed = claim(payload, delivery)
    return claimed if isinstance(claimed, Run) else run_claimed(claimed, delivery)


def claim(payload: TaskPayload, delivery: Delivery) -> records.Claim | Run:
    """Claim the delivered task for this attempt; or, when nothing is to run, the Run that
    says why (it finished before; another worker runs it now)."""
    if not delivery.is_job:
        # The common case in one statement: a READY task on a queue that pushes here.
        ready = records.claim_ready(
            payload.task_id, worker_id=delivery.worker_id, delivery_attempt=delivery.attempt,
            lease=lease_of(payload.backend), routes=_pushed_routes(),
        )
        if ready is not None:
            return ready
    try:
        return records.claim(
            payload.task_id, worker_id=delivery.worker_id, delivery_attempt=delivery.attempt,
            lease=lease_of(payload.backend), takes_over=delivery.takes_over, adopt=lambda: _adopted(payload),
            vet=delivery.vet,
        )
    except records.AlreadyFinished as done:
        return Run(Outcome.DUPLICATE, payload.task_id, result_of(done.record))
    except records.Busy as busy:
        return Run(Outcome.BUSY, payload.task_id, reason=str(busy))
    except TaskRecord.DoesNotExist as missing:
        raise UnrunnableTask(f"{missing}, and its payload carries no arguments that could be stored") from missing


def run_claimed(claim: records.Claim, delivery: Delivery) -> Run:
    """Run the attempt `claim` holds (see `run`)."""
    try:
        task = as_enqueued(resolve_task(claim.record.task_path), claim.record)
        check_arguments(task, claim.record.args, claim.record.kwargs)
    except UnrunnableTask as error:
        unrunnable = error
    else:
        return _Attempt(task, claim, delivery).run()
    # Recorded outside the except block, so that Django's receiver logs the failure without
    # a traceback: it would show the runner looking the task up, not the task's code.
    _record_failure(claim, unrunnable, for_good=True, result=None)
    raise unrunnable


class _LeaseLost(Exception):
    pass


class _Attempt:
    """One attempt of a claimed task."""

    def __init__(self, task: Task, claim: records.Claim, delivery: Delivery) -> None:
        self.task = task
        self.claim = claim
        self.delivery = delivery
        self.sender = type(task.get_backend())

    def run(self) -> Run:
        record = self.claim.record
        result = result_of(record, self.task)
        task_started.send(sender=self.sender, task_result=result)
        try:
            with lease.kept(record.pk, self.claim.token, lease_of(record.backend)):
                with self._transaction():
                    with shutdown.interruptible(limits_of(self.task).time_limit):
                        context = (TaskContext(task_result=result),) if self.task.takes_context else ()
                        returned = self.task.call(*context, *record.args, **record.kwargs)
                    # A task that wrote nothing has nothing to commit with its success: it is
                    # recorded after its (empty) transaction, one statement instead of three.
                    finished = None if records.transaction_unused() else self._finish(returned)
                outcome = finished or self._finish(returned)
        except KeyboardInterrupt as interrupt:
            # For whoever runs the runner; but this attempt is over all the same: record it
            # and give the lease back now, rather than leave the task RUNNING until it expires.
            records.failed(self.claim, interrupt, for_good=False)
            raise
        except _LeaseLost:
            return self._lease_lost()
        except shutdown.Interrupted as error:
            if not records.failed(self.claim, error, for_good=False):
                return self._lease_lost()
            return Run(Outcome.INTERRUPTED, record.pk, result_of(record, self.task), str(error))
        except BaseException as error:
            for_good = isinstance(error, PermanentFailure) or self.delivery.is_last(self.task, self.claim)
            if not _record_failure(self.claim, error, for_good=for_good, result=result, task=self.task):
                return self._lease_lost()
            return Run(Outcome.FAILED if for_good else Outcome.RETRY, record.pk, result_of(record, self.task))
        self._report(result, outcome)
        return Run(outcome, record.pk, result)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        atomic = not getattr(self.task.func, "_cloudtasks_non_atomic", False)
        with transaction.atomic() if atomic else nullcontext():
            yield

    def _finish(self, returned: Any) -> Outcome:
        """Record the outcome, in the task's transaction: it commits only if it is written."""
        try:
            value = json_value(returned)
        except NotJson as error:
            if not records.failed(self.claim, ReturnValueNotJson(f"the task's return value is not JSON: {error}"),
                                  for_good=True):
                raise _LeaseLost from None
            return Outcome.FAILED
        if not records.succeeded(self.claim, value):
            raise _LeaseLost
        return Outcome.SUCCEEDED

    def _report(self, result: TaskResult, outcome: Outcome) -> None:
        refresh(result, self.claim.record)
        task_finished.send(sender=self.sender, task_result=result)
        if outcome == Outcome.FAILED:
            task_failed_permanently.send(sender=self.sender, task_result=result_of(self.claim.record, self.task))

    def _lease_lost(self) -> Run:
        return Run(Outcome.LEASE_LOST, self.claim.record.pk, reason="another worker took the task over meanwhile")


def _record_failure(
    claim: records.Claim, error: BaseException, *, for_good: bool, result: TaskResult | None, task: Task | None = None
) -> bool:
    """Record a failed attempt and send what Django's own backends send for one (called
    inside the except block, Django's receiver logs the traceback with it)."""
    if not records.failed(claim, error, for_good=for_good):
        return False
    finished = result_of(claim.record, task)
    if result is not None:
        refresh(result, claim.record)
        # The attempt failed, whatever comes next (Django's backends report it so).
        object.__setattr__(result, "status", TaskResultStatus.FAILED)
        finished = result
    sender = type(task.get_backend()) if task else _backend_class(claim.record.backend)
    task_finished.send(sender=sender, task_result=finished)
    if for_good:
        task_failed_permanently.send(sender=sender, task_result=result_of(claim.record, task))
    return True


def _adopted(payload: TaskPayload) -> TaskRecord | None:
    """A record for a task delivered without one (enqueued before records existed), or
    None if its payload leaves its arguments to a record. What the payload says was
    checked on decode against what a record stores (cloudtasks.wire.payload)."""
    if payload.args is None or payload.kwargs is None:
        return None
    try:
        declared: Task | None = resolve_task(payload.task_path)
    except UnrunnableTask:
        declared = None
    now = timezone.now()
    enqueued_at = moments.as_stored(payload.enqueued_at) if payload.enqueued_at else now
    return TaskRecord(
        id=payload.task_id, task_path=payload.task_path,
        backend=payload.backend or (declared.backend if declared else DEFAULT_TASK_BACKEND_ALIAS),
        queue_name=payload.queue_name or (declared.queue_name if declared else "default"),
        priority=payload.priority if payload.priority is not None else (declared.priority if declared else 0),
        run_after=moments.as_stored(payload.run_after) if payload.run_after else None,
        args=payload.args, kwargs=payload.kwargs, enqueued_at=enqueued_at, sent_at=enqueued_at, check_after=now,
    )


@functools.cache
def _pushed_routes() -> tuple[tuple[str, str], ...]:
    """(backend alias, queue name) of every queue whose tasks are pushed over HTTP: a task
    enqueued on another is never claimed by a push (Delivery.vet)."""
    return tuple((queue.alias, queue.queue_name) for queue in http_queues(cloud_tasks_options()))


@receiver(setting_changed)
def _forget_routes(*, setting: str, **kwargs: Any) -> None:
    if setting == "TASKS":
        _pushed_routes.cache_clear()


def lease_of(alias: str | None) -> float:
    """The lease of a task on backend `alias` (its LEASE option)."""
    try:
        return task_backends[alias or DEFAULT_TASK_BACKEND_ALIAS].backend_options.lease
    except (InvalidTaskBackend, AttributeError):
        return DEFAULT_LEASE


def _backend_class(alias: str) -> type:
    try:
        return type(task_backends[alias])
    except InvalidTaskBackend:
        # A backend this process's TASKS lacks (renamed, removed): there is no class of it
        # to name, only the one every backend has.
        return BaseTaskBackend


def check_arguments(task: Task, args: list[Any], kwargs: dict[str, Any]) -> None:
    # Arguments that do not fit the signature fail the same way on every retry.
    context = (None,) if task.takes_context else ()
    try:
        _signature(task.func).bind(*context, *args, **kwargs)
    except TypeError as error:
        raise UnrunnableTask(f"arguments do not fit {task.module_path}: {error}") from error


@functools.lru_cache(maxsize=1024)  # one per task function; inspecting it takes longer than binding
def _signature(func: Any) -> inspect.Signature:
    return inspect.signature(func)


# --- A task run by hand (`run_task --task`): never enqueued, so never recorded ---------


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveredTaskResult(TaskResult):
    """A TaskResult whose attempt number is the one Cloud Run reported.

    django.tasks counts attempts as the number of workers recorded in `worker_ids`; a
    run by hand has no record of the earlier attempts, only their number.
    """

    attempt: int

    @property
    def attempts(self) -> int:
        return self.attempt


def run_declared(payload: TaskPayload, *, attempt: int) -> TaskResult:
    """Run a declared task that was never enqueued (`run_task --task`, by hand), as
    attempt number `attempt`: no record, no lease, no transaction around it (the flush,
    for one, manages its own)."""
    task = as_enqueued(resolve_task(payload.task_path), payload)
    check_arguments(task, payload.args or [], payload.kwargs or {})
    backend = task.get_backend()
    started_at = timezone.now()
    result = DeliveredTaskResult(
        task=task, id=payload.task_id, status=TaskResultStatus.RUNNING, enqueued_at=payload.enqueued_at,
        started_at=started_at, last_attempted_at=started_at, finished_at=None, args=payload.args or [],
        kwargs=payload.kwargs or {}, backend=backend.alias, errors=[], worker_ids=[_this_process()], attempt=attempt,
    )
    task_started.send(sender=type(backend), task_result=result)
    try:
        context = (TaskContext(task_result=result),) if task.takes_context else ()
        object.__setattr__(result, "_return_value", json_value(task.call(*context, *result.args, **result.kwargs)))
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        result.errors.append(TaskError(**records.error_entry(error)))
        _finished(result, TaskResultStatus.FAILED)
        task_finished.send(sender=type(backend), task_result=result)  # in the except block: Django logs it
    else:
        _finished(result, TaskResultStatus.SUCCESSFUL)
        task_finished.send(sender=type(backend), task_result=result)
    return result


def _finished(result: TaskResult, status: TaskResultStatus) -> None:
    # TaskResult is frozen; django.tasks' own backends update it the same way.
    object.__setattr__(result, "finished_at", timezone.now())
    object.__setattr__(result, "status", status)


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"



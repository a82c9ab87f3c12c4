"""Which job task an execution of a queue's worker job runs (`run_task --queue`).

A job task's `jobs:run` call starts its queue's worker job as the job is defined, with
no overrides: the invoker Cloud Tasks calls with needs only `roles/run.invoker`, and
whoever may enqueue cannot choose an execution's args or env. So an execution is not
told which task it is for; it takes one from the database:

- the task an earlier attempt of this same execution's task took (`CLOUD_RUN_EXECUTION`
  and `CLOUD_RUN_TASK_INDEX`; Cloud Run retries a task that exited non-zero or died),
  whatever became of it: retries keep their meaning (the last attempt is attempt
  max_retries + 1 of that execution's task), and a task that finished is reported again;
- else the oldest READY job task of the backend and queue that no attempt has started in
  its current generation (a re-driven task counts as new), and that is due by the
  database's clock (`run_after` reached).

The row is selected FOR UPDATE in the transaction that claims it (cloudtasks.run.records),
so once that commits the task is this execution's. On PostgreSQL a new task is selected
with SKIP LOCKED: two executions choosing at once take different tasks without waiting
for each other. SQLite has no row locks; the project's IMMEDIATE transactions make
executions choose one after the other.

Counting: every job task Cloud Tasks took starts at least one execution, and each
execution runs at most one task, so none is left behind. An execution that finds nothing
due (a duplicate `jobs:run`, or its task was taken by an execution started for another)
exits 0. One started before its task is due by the database's clock (clocks apart by
more than an execution takes to start), or while a flush holds its row for a moment, also
finds nothing: the flush sends that task again once Cloud Tasks no longer holds it
(cloudtasks.operations.flush), unless another execution took it first.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import F, IntegerField, Q
from django.db.models.functions import Cast, Coalesce
from django.tasks import TaskResultStatus

from cloudtasks.config.backends import cloud_tasks_options
from cloudtasks.config.options import JobTarget
from cloudtasks.models import TaskRecord, last_attempt
from cloudtasks.run import db_clock


class NoJobBackend(ValueError):
    """No backend in TASKS (or not the one named) starts jobs for the queue."""


def job_backend(queue_name: str, alias: str | None = None) -> str:
    """The backend whose job tasks on `queue_name` an execution runs: `alias`, checked, or
    else the one backend in TASKS that starts jobs for that queue. NoJobBackend names
    what is wrong and the choices there are."""
    routes = _job_queues_by_backend()
    starting = [name for name, queues in routes.items() if queue_name in queues]
    if alias is not None and alias not in starting:
        raise NoJobBackend(f"backend {alias!r} does not start jobs for queue {queue_name!r}; {_choices(routes)}")
    if alias is None and not starting:
        raise NoJobBackend(f"no backend in TASKS starts jobs for queue {queue_name!r}; {_choices(routes)}")
    if alias is None and len(starting) > 1:
        raise NoJobBackend(
            f"backends {', '.join(map(repr, starting))} all start jobs for queue {queue_name!r}: "
            f"name the one this job serves with --backend"
        )
    return alias or starting[0]


def _job_queues_by_backend() -> dict[str, list[str]]:
    """The queue names each Cloud Tasks backend in TASKS starts jobs for, by alias (one
    whose options are invalid is left out: `manage.py check` reports it)."""
    return {
        alias: [name for name, route in options.queues.items() if isinstance(route.target, JobTarget)]
        for alias, options in cloud_tasks_options().items()
    }


def _choices(routes: dict[str, list[str]]) -> str:
    offered = [f"{alias!r} for {', '.join(map(repr, queues))}" for alias, queues in routes.items() if queues]
    return f"backends start jobs: {'; '.join(offered)}" if offered else 'no backend in TASKS has TARGET "job"'


def next_for_execution(backend: str, queue_name: str, earlier_worker_ids: Sequence[str]) -> TaskRecord | None:
    """The job task this execution runs (see the module's docstring), or None if none is
    due. Call it inside `transaction.atomic()` and claim the task before that commits:
    the row stays locked until then."""
    on_queue = TaskRecord.objects.filter(backend=backend, queue_name=queue_name)
    if earlier_worker_ids:
        # Waited for, not skipped, if locked: a flush or a lease renewal holds it only
        # for a moment, and it is this execution's task.
        taken = (
            on_queue.select_for_update().alias(last_worker_id=last_attempt("worker_id"))
            .filter(last_worker_id__in=list(earlier_worker_ids)).order_by("-last_attempted_at").first()
        )
        if taken is not None:
            return taken
    return (
        on_queue.select_for_update(skip_locked=True)
        .filter(status=TaskResultStatus.READY)
        .filter(Q(run_after__isnull=True) | Q(run_after__lte=db_clock.Now()))
        # Attempts of earlier generations stay in the list: they say the task ran before
        # it was re-driven, not that an execution has it now.
        .alias(last_generation=Coalesce(Cast(last_attempt("generation"), IntegerField()), 0))
        .filter(Q(started_at__isnull=True) | Q(last_generation__lt=F("generation")))
        .order_by("enqueued_at", "pk").first()  # the order of cloudtasks_ready_idx
    )

"""TaskRecord: one row per enqueued task, its whole life.

The row is written in the transaction that enqueues the task (the outbox): a task
exists once its row commits, whether or not Cloud Tasks was reachable then. What the
flush needs to send it, or to send it again, is here; so is what the runner records
when it runs it: each attempt (worker, times, error), the lease of the attempt running
now, and the result.

Status, as django.tasks defines it: READY (enqueued, or failed an attempt that will be
retried), RUNNING (an attempt holds the lease), SUCCESSFUL, FAILED (for good: no more
attempts). Moves from RUNNING are made only by the holder of the lease
(`lease_token`), so that a worker that lost it (it froze, and another took over) can
change nothing. A READY task cancelled (cloudtasks.operations.cancel) is FAILED, with
`cancelled_at` set.

Outbox states, for a row whose task has not finished:
- pending: `sent_at` is empty; the request that enqueued it sends it after commit, and
  the flush sends it if that did not work (from `check_after` on).
- sent: Cloud Tasks took the task named `cloud_tasks_name()`; from `check_after` on, the
  flush asks whether Cloud Tasks still holds a task that has not started yet, and sends
  it again under a new name (`generation` + 1) if Cloud Tasks gave up on it.

A finished record (SUCCESSFUL or FAILED) is kept for its backend's RETENTION, then the
prune deletes it (cloudtasks.operations.prune). An unfinished one cannot be deleted through the
ORM (TaskNotFinished): its task would be lost, and a job task cannot run without it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.tasks import TaskResultStatus

from cloudtasks.exceptions import TaskNotFinished
from cloudtasks.fields import JsonTextField

FINISHED = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


def last_attempt(key: str) -> KeyTextTransform:
    """`key` of a record's last attempt, as text (NULL for a record without attempts)."""
    return KeyTextTransform(key, KeyTransform("-1", "attempts"))


class TaskRecordQuerySet(models.QuerySet["TaskRecord"]):
    def delete(self) -> tuple[int, dict[str, int]]:
        """Delete the records, if every one is finished; else TaskNotFinished, and none is.

        Rows that stopped being finished since the check (a re-drive) are not deleted."""
        unfinished = list(self.exclude(status__in=FINISHED).values_list("pk", flat=True)[:6])
        if unfinished:
            shown = ", ".join(unfinished[:5]) + (", ..." if len(unfinished) > 5 else "")
            raise TaskNotFinished(
                f"Task records {shown} are not finished (READY or RUNNING): deleting one would lose its "
                f"task, and a job task cannot run without its record. Only SUCCESSFUL and FAILED records "
                f"can be deleted; the prune deletes them once they are older than the backend's RETENTION."
            )
        return super(TaskRecordQuerySet, self.filter(status__in=FINISHED)).delete()


class TaskRecord(models.Model):
    # The task's id: django.tasks' TaskResult.id, and the Cloud Tasks task's name.
    id = models.CharField(primary_key=True, max_length=64, editable=False)

    # The task as it was enqueued: enough to rebuild it on the run side.
    task_path = models.CharField(max_length=255)
    backend = models.CharField(max_length=100)
    queue_name = models.CharField(max_length=100)
    priority = models.IntegerField(default=0)
    run_after = models.DateTimeField(null=True, blank=True)
    # As JSON text, so that they come back exactly as json carries them (cloudtasks.fields).
    args = JsonTextField(default=list)
    kwargs = JsonTextField(default=dict)
    enqueued_at = models.DateTimeField()

    status = models.CharField(
        max_length=10, choices=TaskResultStatus.choices, default=TaskResultStatus.READY
    )

    # The outbox.
    # How often the task was sent again under a new name after Cloud Tasks gave up on
    # it: its Cloud Tasks task is named after the id, then id-1, id-2, ...
    generation = models.PositiveIntegerField(default=0)
    # When the sending of the current generation that Cloud Tasks took began (a task
    # cannot start before it); empty while the task is pending.
    sent_at = models.DateTimeField(null=True, blank=True)
    # When the flush next looks at the row: sends it if pending, else checks on it.
    check_after = models.DateTimeField()
    send_failures = models.PositiveIntegerField(default=0)  # in a row, for backoff
    send_error = models.TextField(blank=True)  # the last one

    # The run side.
    started_at = models.DateTimeField(null=True, blank=True)  # first attempt
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # One entry per attempt that started, oldest first (cloudtasks.run.records.Attempt).
    attempts = models.JSONField(default=list, blank=True)
    return_value = JsonTextField(null=True, blank=True)
    # The running attempt's lease: whoever holds the token may finish the task, until
    # the lease expires; then another delivery may take the task over.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When the task was cancelled before an attempt started (cloudtasks.operations.cancel):
    # it is FAILED from then on, and its result's last error says so.
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = TaskRecordQuerySet.as_manager()

    class Meta:
        verbose_name = "task"
        indexes = [
            # The admin's and `list_tasks`' filters and order.
            models.Index(fields=["status", "-enqueued_at"], name="cloudtasks_status_idx"),
            models.Index(fields=["-enqueued_at"], name="cloudtasks_enqueued_idx"),
            models.Index(fields=["queue_name", "-enqueued_at"], name="cloudtasks_queue_idx"),
            # The task filter (=) and search (a prefix: LIKE 'x%', which a B-tree in the
            # database's collation serves only if that is "C"): the pattern operator
            # class serves both (https://www.postgresql.org/docs/current/indexes-opclass.html).
            models.Index(fields=["task_path"], name="cloudtasks_task_path_idx", opclasses=["varchar_pattern_ops"]),
            # The flush's work: unfinished rows, by when it next looks at them.
            models.Index(
                fields=["check_after"],
                name="cloudtasks_unfinished_idx",
                condition=Q(status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]),
            ),
            # What a job execution runs (cloudtasks.run.job_tasks): the oldest READY job task of
            # its queue, or, for a retried execution, the one its earlier attempt took. With
            # `id` last, only this index gives the choice's order: PostgreSQL would otherwise
            # walk cloudtasks_enqueued_idx from the oldest record when many other tasks wait.
            models.Index(
                fields=["backend", "queue_name", "enqueued_at", "id"],
                name="cloudtasks_ready_idx",
                condition=Q(status=TaskResultStatus.READY),
            ),
            models.Index(last_attempt("worker_id"), name="cloudtasks_last_worker_idx"),
            # The prune's work: finished rows of a backend, oldest first.
            models.Index(
                fields=["backend", "finished_at"], name="cloudtasks_finished_idx", condition=Q(status__in=FINISHED)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_path} {self.id}"

    def delete(self, using: str | None = None, keep_parents: bool = False) -> tuple[int, dict[str, int]]:
        # Through the query set, which checks the row as the database holds it now.
        return TaskRecord.objects.using(using).filter(pk=self.pk).delete()

    @property
    def pending(self) -> bool:
        return self.sent_at is None

    def cloud_tasks_id(self) -> str:
        """The id of the current generation's Cloud Tasks task (the last part of its name)."""
        return task_id_of(self.id, self.generation)


def task_id_of(record_id: str, generation: int) -> str:
    # Cloud Tasks refuses a name again for a while after its task is gone, so a task
    # sent again gets a name of its own; the first keeps the plain id.
    return record_id if generation == 0 else f"{record_id}-{generation}"

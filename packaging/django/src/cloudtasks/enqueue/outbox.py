"""The transactional outbox: a task is a row before it is a Cloud Tasks task.

`enqueue` writes the task's row in the caller's transaction and sends the task only
once that transaction commits: a rolled-back transaction sends nothing, and a task that
committed is never lost, because its row is there for the flush (cloudtasks.operations.flush) if
the send after commit fails, times out or never happens (the process died).

A send after commit that succeeds writes nothing more: the request pays for the row's
INSERT only. The row stays "pending" until the task starts (the runner marks it sent)
or, for a task that waits in its queue (run_after, a backlog), until the flush sends
it again after SEND_CLAIM and hears ALREADY_EXISTS. A send that fails marks the row for
the flush at once. The sends of one request share its budget (cloudtasks.enqueue.send_budget):
once it is spent, or once a send failed, the others are not tried, and are handed to
the flush together when the request ends.

`together()` (`cloudtasks.enqueue_together()`) enqueues many tasks in one transaction:
the rows of the tasks enqueued in the block are written together, by one INSERT per
BULK_BATCH when the block ends, and once that transaction commits their CreateTask calls
go out at once, SEND_CONCURRENCY at a time, within the same budget (the rows are the
outbox as ever: what is not sent is the flush's). A block that raises writes and sends
nothing.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from google.cloud import tasks_v2

from cloudtasks.enqueue import send_budget, sending
from cloudtasks.models import TaskRecord, task_id_of

logger = logging.getLogger(__name__)

# How long the send after commit has a new row to itself before the flush may send it
# too: the flush leaves rows it would only send a second time alone.
SEND_CLAIM = timedelta(minutes=2)
# Rows per INSERT of tasks enqueued together: within SQLite's limit on a statement's
# parameters (32,766 since SQLite 3.32.0, https://www.sqlite.org/limits.html#max_variable_number)
# at the record's 23 columns, and PostgreSQL's (65,535 in its wire protocol).
BULK_BATCH = 1000
# CreateTask calls in flight at once for tasks enqueued together. Each waits on the
# network (tens of milliseconds to Cloud Tasks), not on this process; one gRPC channel
# carries them all (HTTP/2 streams). 1,000 tasks go out in about 32 round trips' time.
SEND_CONCURRENCY = 32

_Pending = tuple[TaskRecord, tasks_v2.CreateTaskRequest, tasks_v2.CloudTasksClient, float]
_together: ContextVar[list[_Pending] | None] = ContextVar("cloudtasks_enqueued_together", default=None)


def enqueue(record: TaskRecord, request: tasks_v2.CreateTaskRequest, *, client: tasks_v2.CloudTasksClient,
            budget: float) -> None:
    """Write `record` (in the current transaction, if there is one) and send `request`
    once it commits, waiting at most what is left of `budget` (see send_budget)."""
    record.check_after = record.enqueued_at + SEND_CLAIM
    pending = _together.get()
    if pending is not None:
        pending.append((record, request, client, budget))  # written and sent when the block ends
        return
    record.save(force_insert=True)
    send_after_commit(record, request, client=client, budget=budget)


@contextlib.contextmanager
def together() -> Iterator[None]:
    """Enqueue the block's tasks in one transaction: their rows written together when it
    ends, their CreateTask calls sent at once after it commits (see the module's docstring).
    Until the block ends, a task enqueued in it has no row (`get_result` does not find it)."""
    pending: list[_Pending] = []
    with transaction.atomic():
        token = _together.set(pending)
        try:
            yield
        finally:
            _together.reset(token)
        TaskRecord.objects.bulk_create([record for record, *_ in pending], batch_size=BULK_BATCH)
        by_client: dict[tuple[tasks_v2.CloudTasksClient, float], list[tuple[str, int, tasks_v2.CreateTaskRequest]]] = {}
        for record, request, client, budget in pending:
            by_client.setdefault((client, budget), []).append((record.pk, record.generation, request))
        for (client, budget), sends in by_client.items():
            transaction.on_commit(functools.partial(_send_all_committed, sends, client, budget), robust=True)


def send_after_commit(record: TaskRecord, request: tasks_v2.CreateTaskRequest, *, client: tasks_v2.CloudTasksClient,
                      budget: float) -> None:
    """Send `request` (the current generation of `record`'s task) once the current
    transaction commits, at once outside one."""
    transaction.on_commit(
        functools.partial(_send_committed, record.pk, record.generation, request, client, budget),
        # Whatever happens while sending, the caller's commit has succeeded: never
        # let this raise into it (Django logs what a robust callback raises).
        robust=True,
    )


def _send_committed(
    record_id: str, generation: int, request: tasks_v2.CreateTaskRequest, client: tasks_v2.CloudTasksClient,
    budget: float,
) -> None:
    # Outside a request and a task's execution, the send has a window of its own.
    window = send_budget.current() or send_budget.Window()
    timeout = window.time_left(budget)
    if timeout <= 0:
        window.left.append(record_id)  # nothing more: the window's end hands it to the flush
        return
    with window.spending():
        try:
            sending.create_task(client, request, timeout=timeout)
        except sending.SendFailed as failure:
            logger.warning(
                "Task %s not sent after commit (%s); it is recorded, and the flush will send it",
                task_id_of(record_id, generation), failure.reason,
            )
            note_failure(record_id, generation=generation, reason=failure.reason, retry_at=timezone.now())
            window.note_failure(failure.reason)
        else:
            window.sent += 1


def _send_all_committed(
    sends: list[tuple[str, int, tasks_v2.CreateTaskRequest]], client: tasks_v2.CloudTasksClient, budget: float,
) -> None:
    """Send tasks enqueued together, SEND_CONCURRENCY at a time, within what is left of the
    window's budget; after a failure or past the budget, the others are left to the flush."""
    window = send_budget.current()
    with send_budget.window() if window is None else contextlib.nullcontext():
        window = send_budget.current()
        deadline = time.monotonic() + window.time_left(budget)
        failed: list[tuple[str, int, str]] = []

        def send(record_id: str, generation: int, request: tasks_v2.CreateTaskRequest) -> bool:
            # The database is left to this thread's caller: the pool's threads hold no connection.
            timeout = deadline - time.monotonic()
            if timeout <= 0 or failed:
                return False
            try:
                sending.create_task(client, request, timeout=timeout)
            except sending.SendFailed as failure:
                failed.append((record_id, generation, failure.reason))
                return False
            return True

        with window.spending(), ThreadPoolExecutor(min(SEND_CONCURRENCY, len(sends))) as pool:
            outcomes = list(pool.map(send, *zip(*sends)))
        # The first failure is recorded on its row, as a single send's is; calls that failed
        # beside it (in flight at once: Cloud Tasks is down) are left untouched, as untried ones are.
        first_failure = failed[0] if failed else None
        for (record_id, _, _), sent in zip(sends, outcomes):
            if sent:
                window.sent += 1
            elif first_failure is None or record_id != first_failure[0]:
                window.left.append(record_id)
        if first_failure is not None:
            record_id, generation, reason = first_failure
            logger.warning(
                "Task %s not sent after commit (%s); it is recorded, and the flush will send it",
                task_id_of(record_id, generation), reason,
            )
            note_failure(record_id, generation=generation, reason=reason, retry_at=timezone.now())
            window.note_failure(reason)


def note_sent(record_id: str, *, generation: int, sent_at: datetime, check_after: datetime) -> None:
    TaskRecord.objects.filter(pk=record_id, generation=generation, sent_at=None).update(
        sent_at=sent_at, check_after=check_after, send_failures=0, send_error=""
    )


def note_failure(record_id: str, *, generation: int, reason: str, retry_at: datetime) -> None:
    TaskRecord.objects.filter(pk=record_id, generation=generation, sent_at=None).update(
        check_after=retry_at, send_failures=F("send_failures") + 1, send_error=reason
    )

"""What the runner writes to a task's record, attempt by attempt.

A delivery *claims* the task in a short transaction that locks its row: it becomes
RUNNING with a new lease and a new entry in `attempts`. Unless it already finished
(the delivery is a duplicate: nothing runs), or another worker holds an unexpired lease
(it runs now: the delivery is answered "later"). A RUNNING task whose lease expired
lost its worker: the claim records that attempt's error (WorkerLost) and takes over.

Every later write is made only by the holder of the lease: it names the lease token,
and changes nothing if another worker took the task over meanwhile.

Times come from the database's clock (cloudtasks.run.db_clock), never a worker's own: the
claim reads it in its SELECT, a renewal computes the new expiry in its UPDATE, and the
attempt's later times count from the claim's on this process's monotonic clock.

Round trips are what a task's run costs the database and the worker most (a READY task
on PostgreSQL: its claim, and its transaction's BEGIN, its own statements, the UPDATE of
its success, COMMIT). So the common case is claimed in one statement (`claim_ready`: an
UPDATE of a READY row that returns it, a transaction of its own, the time from the
database's clock in it), and the finishing UPDATE is compiled once per set of columns
rather than by the ORM each time (`_update_held`); every other case takes `claim`'s
SELECT ... FOR UPDATE, which says why nothing runs.
"""

from __future__ import annotations

import functools
import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from traceback import format_exception
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.tasks import TaskResultStatus

from cloudtasks.exceptions import WorkerLost
from cloudtasks.models import FINISHED, TaskRecord
from cloudtasks.run import db_clock
# After an attempt, when the flush first looks at the task again (cloudtasks.operations.flush).
LOOK_AGAIN_AFTER = timedelta(minutes=5)


class AlreadyFinished(Exception):
    def __init__(self, record: TaskRecord) -> None:
        self.record = record
        super().__init__(f"task {record.pk} already finished: {record.status}")


class Busy(Exception):
    """Another worker runs the task now, under an unexpired lease."""

    def __init__(self, record: TaskRecord) -> None:
        self.record = record
        holder = record.attempts[-1]["worker_id"] if record.attempts else "another worker"
        super().__init__(f"task {record.pk} is running on {holder} until {record.lease_expires_at.isoformat()}")


@dataclass
class Claim:
    """An attempt this worker runs: the record as claimed, and the lease's token."""

    record: TaskRecord
    token: str
    claimed_at: datetime  # by the database's clock
    _claimed_on_monotonic: float = field(default_factory=time.monotonic, init=False, repr=False)

    @property
    def number(self) -> int:
        return len(self.record.attempts)

    def now(self) -> datetime:
        """The database's time now, counted from the claim's on this process's monotonic
        clock: no round trip, and nothing from this worker's wall clock."""
        return self.claimed_at + timedelta(seconds=time.monotonic() - self._claimed_on_monotonic)


def error_entry(error: BaseException) -> dict[str, str]:
    """An error as django.tasks' TaskError holds it."""
    return {
        "exception_class_path": f"{type(error).__module__}.{type(error).__qualname__}",
        "traceback": "".join(format_exception(error)),
    }


def _accept(record: TaskRecord) -> None:
    pass


def claim(
    record_id: str, *, worker_id: str, delivery_attempt: int, lease: float,
    takes_over: Callable[[str], bool], adopt: Callable[[], TaskRecord | None],
    vet: Callable[[TaskRecord], None] = _accept,
) -> Claim:
    """Claim the task for an attempt on `worker_id`. `takes_over(holder)`: whether this
    delivery may take the task from a holder whose lease has not expired (it knows that
    holder is gone). `adopt()`: a record for a task that has none (enqueued before
    records), or None. `vet(record)`: raises if this delivery must not touch the task at
    all, before anything is decided or written. Raises AlreadyFinished, Busy, or
    TaskRecord.DoesNotExist."""
    try:
        return _claim(record_id, worker_id, delivery_attempt, lease, takes_over, adopt, vet)
    except IntegrityError:
        # Two deliveries of a task without a record adopted it at once: one row won.
        return _claim(record_id, worker_id, delivery_attempt, lease, takes_over, lambda: None, vet)


def _claim(
    record_id: str, worker_id: str, delivery_attempt: int, lease: float,
    takes_over: Callable[[str], bool], adopt: Callable[[], TaskRecord | None], vet: Callable[[TaskRecord], None],
) -> Claim:
    with transaction.atomic():
        # The database's time comes with the row: a lease is judged by one clock for all.
        record = TaskRecord.objects.select_for_update().annotate(database_now=db_clock.Now()).filter(pk=record_id).first()
        if record is None:
            record = adopt()
            if record is None:
                raise TaskRecord.DoesNotExist(f"task {record_id} has no record")
            vet(record)
            record.save(force_insert=True)
            now = db_clock.now()
        else:
            vet(record)
            now = record.database_now
        if record.status in FINISHED:
            raise AlreadyFinished(record)
        attempts = list(record.attempts)
        if record.status == TaskResultStatus.RUNNING:
            holder = attempts[-1]["worker_id"] if attempts else ""
            if record.lease_expires_at and record.lease_expires_at > now and not takes_over(holder):
                raise Busy(record)
            attempts[-1] = {**attempts[-1], "finished_at": now.isoformat(), "error": error_entry(_lost(holder, record))}
        attempts.append({
            "worker_id": worker_id, "started_at": now.isoformat(), "finished_at": None,
            "generation": record.generation, "delivery_attempt": delivery_attempt, "error": None,
        })
        changes: dict[str, Any] = {
            "status": TaskResultStatus.RUNNING, "attempts": attempts, "lease_token": uuid.uuid4().hex,
            "lease_expires_at": now + timedelta(seconds=lease), "started_at": record.started_at or now,
            "last_attempted_at": now, "check_after": now + timedelta(seconds=lease) + LOOK_AGAIN_AFTER,
            # It reached Cloud Tasks, or it could not have started: a send after commit
            # that succeeded wrote nothing (cloudtasks.enqueue.outbox); sending began after the
            # row was written.
            "sent_at": record.sent_at or record.enqueued_at,
        }
        TaskRecord.objects.filter(pk=record.pk).update(**changes)
        for field, value in changes.items():
            setattr(record, field, value)
    return Claim(record, changes["lease_token"], claimed_at=now)


def claim_ready(
    record_id: str, *, worker_id: str, delivery_attempt: int, lease: float, routes: Sequence[tuple[str, str]],
) -> Claim | None:
    """The task claimed for an attempt on `worker_id` in one statement, if its record is
    READY and was enqueued on one of `routes` ((backend alias, queue name) pairs); None,
    with nothing written, otherwise (or off PostgreSQL): `claim` then decides, and says
    why. What `claim` would write, written the same way: a new attempt, a new lease by the
    database's clock. Its own transaction: an UPDATE of one row, atomic, which waits for
    a row lock another claim holds and then sees that claim's outcome."""
    connection = connections[TaskRecord.objects.db]
    if not routes or connection.vendor != "postgresql":
        return None
    token = uuid.uuid4().hex
    with connection.cursor() as cursor:
        cursor.execute(_claim_ready_sql(len(routes), naive=not settings.USE_TZ), [
            TaskResultStatus.RUNNING, worker_id, delivery_attempt, token, lease,
            lease + LOOK_AGAIN_AFTER.total_seconds(), record_id, TaskResultStatus.READY,
            *itertools.chain.from_iterable(routes),
        ])
        row = cursor.fetchone()
    if row is None:
        return None
    # As the ORM reads a row: the fields' own conversions (JSON), then the model.
    values = list(row)
    for index, converted in _CONVERTED:
        values[index] = converted.from_db_value(values[index], None, connection)
    record = TaskRecord.from_db(connection.alias, _ATTNAMES, values)
    return Claim(record, token, claimed_at=record.last_attempted_at)


_FIELDS = TaskRecord._meta.concrete_fields
_ATTNAMES = [model_field.attname for model_field in _FIELDS]
_CONVERTED = [(index, model_field) for index, model_field in enumerate(_FIELDS) if hasattr(model_field, "from_db_value")]


@functools.cache
def _claim_ready_sql(routes: int, *, naive: bool) -> str:
    # The attempt's start as Python's isoformat() writes the claim's time (cloudtasks.run.db_clock):
    # aware with USE_TZ, else naive in the connection's time zone, TIME_ZONE.
    started = "to_jsonb(statement_timestamp()::timestamp)" if naive else "to_jsonb(statement_timestamp())"
    pairs = ", ".join(["(%s, %s)"] * routes)
    return f"""
        UPDATE {TaskRecord._meta.db_table} SET
            status = %s,
            attempts = attempts || jsonb_build_array(jsonb_build_object(
                'worker_id', %s::text, 'started_at', {started}, 'finished_at', NULL,
                'generation', generation, 'delivery_attempt', %s::integer, 'error', NULL)),
            lease_token = %s,
            lease_expires_at = statement_timestamp() + make_interval(secs => %s),
            started_at = coalesce(started_at, statement_timestamp()),
            last_attempted_at = statement_timestamp(),
            check_after = statement_timestamp() + make_interval(secs => %s),
            sent_at = coalesce(sent_at, enqueued_at)
        WHERE id = %s AND status = %s AND (backend, queue_name) IN ({pairs})
        RETURNING {", ".join(model_field.column for model_field in _FIELDS)}"""


def transaction_unused() -> bool:
    """Whether the current transaction has sent nothing to PostgreSQL yet (psycopg begins
    it with the first statement) and holds nothing to do after commit: an UPDATE now is
    then as good as one outside it. False on other databases, which may begin at once."""
    connection = connections[TaskRecord.objects.db]
    if connection.vendor != "postgresql" or connection.connection is None or connection.run_on_commit:
        return False
    from psycopg.pq import TransactionStatus  # the postgresql backend's driver

    return connection.connection.info.transaction_status == TransactionStatus.IDLE


def _lost(holder: str, record: TaskRecord) -> WorkerLost:
    return WorkerLost(
        f"worker {holder} stopped before it finished the attempt: its lease expired at "
        f"{record.lease_expires_at.isoformat() if record.lease_expires_at else 'once'}"
    )


def renew(record_id: str, token: str, lease: float) -> bool:
    """Extend the lease to `lease` seconds from now by the database's clock; False if it
    is no longer this worker's. A renewal that comes late (the worker stalled past its
    lease) still counts if nobody took the task over meanwhile."""
    expires = db_clock.Now() + timedelta(seconds=lease)
    return bool(TaskRecord.objects.filter(pk=record_id, lease_token=token).update(lease_expires_at=expires))


def succeeded(claim: Claim, return_value: Any) -> bool:
    """Mark the attempt's success; False (nothing written) if the lease was lost."""
    now = claim.now()
    return _finish(claim, now, None, status=TaskResultStatus.SUCCESSFUL, finished_at=now, return_value=return_value)


def failed(claim: Claim, error: BaseException, *, for_good: bool) -> bool:
    """Record the attempt's error: FAILED if `for_good`, else READY for the queue's next
    attempt. False (nothing written) if the lease was lost."""
    now = claim.now()
    if for_good:
        return _finish(claim, now, error, status=TaskResultStatus.FAILED, finished_at=now)
    return _finish(claim, now, error, status=TaskResultStatus.READY)


def _finish(claim: Claim, now: datetime, error: BaseException | None, **changes: Any) -> bool:
    attempts = list(claim.record.attempts)
    attempts[-1] = {**attempts[-1], "finished_at": now.isoformat(), "error": error_entry(error) if error else None}
    changes.update(attempts=attempts, lease_token="", lease_expires_at=None, check_after=now + LOOK_AGAIN_AFTER)
    written = _update_held(claim, changes)
    if written:
        for field, value in changes.items():
            setattr(claim.record, field, value)
    return written


def _update_held(claim: Claim, changes: dict[str, Any]) -> bool:
    """UPDATE the claimed row with `changes` if this worker still holds its lease (what
    `TaskRecord.objects.filter(pk=..., lease_token=..., status=RUNNING).update(**changes)`
    does, without building the ORM's query anew for each task)."""
    connection = connections[TaskRecord.objects.db]
    fields = tuple(changes)
    values = [TaskRecord._meta.get_field(name).get_db_prep_save(changes[name], connection) for name in fields]
    with connection.cursor() as cursor:
        cursor.execute(_held_update_sql(fields, connection.vendor),
                       [*values, claim.record.pk, claim.token, TaskResultStatus.RUNNING])
        return cursor.rowcount == 1


@functools.cache
def _held_update_sql(fields: tuple[str, ...], vendor: str) -> str:
    quote = connections[TaskRecord.objects.db].ops.quote_name  # the same for every connection of `vendor`
    columns = {name: quote(TaskRecord._meta.get_field(name).column) for name in (*fields, "id", "lease_token", "status")}
    assignments = ", ".join(f"{columns[name]} = %s" for name in fields)
    return (f"UPDATE {quote(TaskRecord._meta.db_table)} SET {assignments} "
            f"WHERE {columns['id']} = %s AND {columns['lease_token']} = %s AND {columns['status']} = %s")


def failed_unattended(record: TaskRecord, reason: str, *, now: datetime) -> bool:
    """FAILED for good at `now` (the database's time), by the flush, for a task no attempt
    is coming for: its queue stopped retrying it (`record` as the flush read it; nothing
    is written if it changed, a lease renewed meanwhile included)."""
    attempts = list(record.attempts)
    error = error_entry(WorkerLost(reason)) if record.status == TaskResultStatus.RUNNING else None
    if attempts and error:
        attempts[-1] = {**attempts[-1], "finished_at": now.isoformat(), "error": error}
    written = TaskRecord.objects.filter(
        pk=record.pk, status=record.status, generation=record.generation,
        last_attempted_at=record.last_attempted_at, lease_token=record.lease_token,
        lease_expires_at=record.lease_expires_at,
    ).update(status=TaskResultStatus.FAILED, finished_at=now, attempts=attempts, lease_token="", lease_expires_at=None)
    return bool(written)

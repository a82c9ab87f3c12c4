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
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from traceback import format_exception
from typing import Any

from django.db import IntegrityError, transaction
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
    written = TaskRecord.objects.filter(
        pk=claim.record.pk, lease_token=claim.token, status=TaskResultStatus.RUNNING
    ).update(**changes)
    if written:
        for field, value in changes.items():
            setattr(claim.record, field, value)
    return bool(written)


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

"""The flush: sends what the outbox still holds, and again what Cloud Tasks gave up on.

Run every minute by the app stack's schedule (the `flush_outbox` task), or by hand
(`manage.py flush_outbox`). Each run takes the rows that are due (`check_after`), a
batch at a time, and for each:

- pending (never taken by Cloud Tasks): sends it, with backoff after failures;
- sent, but not started since: asks Cloud Tasks (GetTask) whether it still holds the
  task. If not, its queue's retries ran out before the task could start (say the push
  handler could not verify tokens meanwhile): it is sent again under a new name, and
  a warning says so. If so, it is looked at again later.
- started, and not finished, with no attempt running (its last attempt failed, or its
  worker died and its lease expired): its queue retries it, so the flush only asks
  whether Cloud Tasks still holds it. If not, no attempt is coming: the task is FAILED
  for good, with `task_failed_permanently` sent (the runner does this itself when it
  can tell an attempt is the last; this catches the attempts it could not tell, and
  workers that died on the last one).

Job tasks hold too. A job task's `jobs:run` call names no task: it starts its queue's
worker job as defined, and the execution takes a due job task of that queue from the
database (cloudtasks.run.job_tasks), not necessarily the one whose call started it. Every
job task Cloud Tasks took starts at least one execution and each execution runs at most
one task, so a job task that never started while Cloud Tasks held it is one whose
executions all found others (or found it not yet due): once Cloud Tasks no longer holds
it, it is sent again under a new name, as above, and that starts another execution.

An attempt may be running while its lease has expired: its worker stalled, or could not
renew (the database at its connection limit), and may still finish and commit. Cloud
Tasks holds an HTTP task until its push is answered, so its absence means no attempt
runs. A job task leaves Cloud Tasks as soon as `jobs:run` answers, so its absence says
nothing: the flush leaves a running job task alone until Cloud Run has surely stopped
its attempt, the job's task timeout (`JOB_TIMEOUT`) after the attempt started, plus
`JOB_MARGIN`; a renewal meanwhile (however late) moves the lease on, and the flush's
write names the lease it read, so it never fails a task whose attempt still renews.
Every time compared here is the database's (cloudtasks.run.db_clock), as the leases' are.

Several flushes may run at once (a slow run overlapping the next, a person running the
command): a batch is claimed in a short transaction that pushes its rows'
`check_after` past the time it takes to work through them, so no two flushes take the
same row. On PostgreSQL the claim selects with FOR UPDATE SKIP LOCKED, so concurrent
flushes take different rows without waiting for each other. SQLite has no row locks:
with "transaction_mode": "IMMEDIATE" (the project's settings set it) each claim takes
SQLite's write lock when it begins, so claims run one after another and the second
sees the first one's rows as claimed; without it, one of two flushes that collide
fails with "database is locked" (the check cloudtasks.W001 warns), and never sends a
row twice. Nothing is locked while Cloud Tasks is called.

One bad row stops nothing else. A batch that cannot be read (a time Python cannot hold,
written by an earlier version or by hand) has its times repaired (cloudtasks.operations.repair) and
is read again, row by row; a row that still cannot be read, or whose handling raises,
is *set aside*: logged once, with the error in its `send_error`, and left for SET_ASIDE
rather than met again by every run. The flush goes on with the other rows. Only the
database failing stops a run (the next one goes on).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, DataError, transaction
from django.tasks import TaskResultStatus
from django.tasks.exceptions import InvalidTaskBackend
from django.utils import timezone
from google.api_core import exceptions

from cloudtasks.config.backends import cloud_tasks_backend
from cloudtasks.config.options import JobTarget, QueueRoute
from cloudtasks.enqueue import outbox, sending
from cloudtasks.enqueue.task_request import build_request, task_name
from cloudtasks.models import TaskRecord, task_id_of
from cloudtasks.operations import repair
from cloudtasks.run import db_clock, records
from cloudtasks.run.results import result_of
from cloudtasks.signals import task_failed_permanently

logger = logging.getLogger(__name__)

BATCH = 100
# How long a flush holds the rows it claimed: more than a batch takes (a run stops
# early when Cloud Tasks does not answer), so that a flush that died lets go of them.
CLAIM = timedelta(minutes=5)
# How long after a task could first have run the flush first asks Cloud Tasks about it,
# if it has not started; and how often after that while Cloud Tasks still holds it.
QUIET = timedelta(minutes=5)
# How long past its job's task timeout (counted from its claim) a job task's attempt is
# still taken to be running. Cloud Run stops an attempt at the timeout, counted from a
# start before the claim, so this covers only its SIGTERM-to-SIGKILL grace (10 s) and the
# start of the execution's next attempt, which takes the task over if it comes.
JOB_MARGIN = timedelta(minutes=5)
# One run, so that runs started a minute apart hardly overlap.
TIME_LIMIT_SECONDS = 50.0
# Sends in a row that fail: Cloud Tasks is down or unreachable; the next run goes on.
FAILURES_TO_STOP = 3
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(minutes=5)
# How long a row the flush cannot read or handle is left alone: a day, so that it is
# logged once a day rather than every minute, until someone repairs it.
SET_ASIDE = timedelta(days=1)

UNFINISHED = (TaskResultStatus.READY, TaskResultStatus.RUNNING)


@dataclass
class FlushReport:
    sent: int = 0  # pending tasks Cloud Tasks took
    unsent: int = 0  # pending tasks it did not take this time
    resent: int = 0  # tasks Cloud Tasks gave up on before they started, sent under a new name
    waiting: int = 0  # sent tasks Cloud Tasks still holds
    given_up: int = 0  # started tasks no attempt is coming for: FAILED for good
    set_aside: int = 0  # rows that could not be read or handled, left alone for SET_ASIDE
    stopped_early: bool = False

    def __str__(self) -> str:
        return (
            f"sent={self.sent} unsent={self.unsent} resent={self.resent} waiting={self.waiting} "
            f"given_up={self.given_up}" + (f" set_aside={self.set_aside}" if self.set_aside else "")
            + (" stopped_early=true" if self.stopped_early else "")
        )


def flush(*, now: datetime | None = None, time_limit: float = TIME_LIMIT_SECONDS) -> FlushReport:
    """Work through the rows due at `now` (default: the database's current time) for at
    most `time_limit` seconds, or until Cloud Tasks looks unreachable."""
    now = now or db_clock.now()
    stop_at = time.monotonic() + time_limit
    report = FlushReport()
    unanswered_in_a_row = 0
    while not report.stopped_early and (batch := _claim(now, report)):
        for index, record in enumerate(batch):
            if time.monotonic() > stop_at or unanswered_in_a_row >= FAILURES_TO_STOP:
                _release(batch[index:], now)
                report.stopped_early = True
                break
            answered = _handled(record, now, report)
            unanswered_in_a_row = 0 if answered else unanswered_in_a_row + 1
    logger.info("Outbox flush %s", report)
    return report


def _claim(now: datetime, report: FlushReport) -> list[TaskRecord]:
    with transaction.atomic():
        due = (
            TaskRecord.objects.select_for_update(skip_locked=True)
            .filter(status__in=UNFINISHED, check_after__lte=now)
            .order_by("check_after")
            .values_list("pk", flat=True)[:BATCH]
        )
        claimed = list(due)
        TaskRecord.objects.filter(pk__in=claimed).update(check_after=now + CLAIM)
    return _read(claimed, now, report)


# What reading a row that holds what Python cannot (a time outside its years, JSON text
# written by hand) raises: PostgreSQL's driver's DataError, or Django's conversion's.
UNREADABLE = (DataError, ValueError, OverflowError)


def _read(claimed: list[str], now: datetime, report: FlushReport) -> list[TaskRecord]:
    """The claimed rows; those that cannot be read are repaired if their times are what is
    wrong, else set aside."""
    rows = TaskRecord.objects.filter(pk__in=claimed)
    try:
        with transaction.atomic():  # a savepoint inside a caller's transaction: a failed read leaves it usable
            return list(rows.order_by("enqueued_at"))
    except UNREADABLE:
        repair.repair_times(rows)
    readable = []
    for record_id in claimed:
        try:
            with transaction.atomic():
                readable.append(TaskRecord.objects.get(pk=record_id))
        except UNREADABLE as error:
            _set_aside(record_id, now, report, f"it cannot be read: {error!r}")
    return sorted(readable, key=lambda record: record.enqueued_at)


def _handled(record: TaskRecord, now: datetime, report: FlushReport) -> bool:
    """Handle one row (see _Row.handle); one whose handling raises is set aside."""
    try:
        return _Row(record, now, report).handle()
    except Exception as error:
        if isinstance(error, DatabaseError) and not isinstance(error, DataError):
            raise  # the database failing, not the row: this run stops, the next goes on
        _set_aside(record.pk, now, report, f"handling it raised {error!r}")
        return True


def _set_aside(record_id: str, now: datetime, report: FlushReport, why: str) -> None:
    report.set_aside += 1
    note = f"Set aside by the flush until {(now + SET_ASIDE).isoformat()}: {why}"
    logger.error("Task %r: %s", record_id, note, exc_info=True)
    TaskRecord.objects.filter(pk=record_id).update(check_after=now + SET_ASIDE, send_error=note)


def _release(rows: list[TaskRecord], now: datetime) -> None:
    TaskRecord.objects.filter(pk__in=[row.pk for row in rows], check_after=now + CLAIM).update(check_after=now)


class _Row:
    """What one flush does with one row it claimed."""

    def __init__(self, record: TaskRecord, now: datetime, report: FlushReport) -> None:
        self.record = record
        self.now = now
        self.report = report

    def handle(self) -> bool:
        """Do what the row needs; False if Cloud Tasks did not answer."""
        record = self.record
        try:
            self.backend = cloud_tasks_backend(record.backend)
            route = self.backend.route(record.queue_name)
        except (InvalidTaskBackend, KeyError) as error:
            # TASKS changed since the task was enqueued: nothing to send it with.
            logger.error("Task %s (%s) cannot be sent: %s", record.pk, record.task_path, error)
            self.look_again(MAX_BACKOFF)
            return True
        if record.pending:
            return self.send(route)
        if record.status == TaskResultStatus.RUNNING and (running_until := self.may_run_until(route)) > self.now:
            self.look_again(running_until - self.now + QUIET)  # a worker runs it now, or may
            return True
        if not self.started_since_sent():
            return self.check_on(route, gone=self.send_under_new_name)
        return self.check_on(route, gone=self.give_up)

    def may_run_until(self, route: QueueRoute) -> datetime:
        """Until when the RUNNING task's attempt may still run: its lease; for a job task,
        also until Cloud Run has surely stopped it (see the module's docstring)."""
        record = self.record
        if isinstance(route.target, JobTarget):
            stopped_by = record.last_attempted_at + timedelta(seconds=route.target.timeout) + JOB_MARGIN
            return max(record.lease_expires_at, stopped_by)
        return record.lease_expires_at

    def started_since_sent(self) -> bool:
        # `sent_at` is when sending began, and a task cannot start before it was sent.
        last = self.record.last_attempted_at
        return last is not None and last >= self.record.sent_at

    def send(self, route: QueueRoute) -> bool:
        record = self.record
        options = self.backend.backend_options
        sending_began = timezone.now()
        try:
            sending.create_task(self.backend.client(), build_request(route, record), timeout=options.attempt_timeout)
        except sending.SendFailed as failure:
            self.report.unsent += 1
            # Capped before it multiplies: 30 s times 2**42 (42 failures, 3.5 hours at the
            # longest backoff) is more than a timedelta holds.
            retry_at = self.now + FIRST_BACKOFF * min(2**record.send_failures, MAX_BACKOFF / FIRST_BACKOFF)
            outbox.note_failure(record.pk, generation=record.generation, reason=failure.reason, retry_at=retry_at)
            logger.warning("Task %s (%s) still not sent: %s", record.cloud_tasks_id(), record.task_path, failure.reason)
            return False
        self.report.sent += 1
        could_run_at = max(self.now, record.run_after) if record.run_after else self.now
        outbox.note_sent(record.pk, generation=record.generation, sent_at=sending_began, check_after=could_run_at + QUIET)
        return True

    def check_on(self, route: QueueRoute, *, gone: Callable[[QueueRoute], bool]) -> bool:
        """Ask Cloud Tasks whether it still holds the task; if not, `gone`."""
        record = self.record
        try:
            self.backend.client().get_task(name=task_name(route.queue_path, record.cloud_tasks_id()))
        except exceptions.NotFound:
            pass
        except exceptions.MethodNotImplemented:
            # The emulator has no GetTask: judge by the queue's retry limits instead.
            if self.now < self.last_heard_of() + route.retry.retry_window():
                return self.still_held()
        except exceptions.GoogleAPICallError as error:
            logger.warning("Cannot tell whether Cloud Tasks still holds task %s: %s", record.cloud_tasks_id(), error)
            self.look_again(QUIET)
            return False
        else:
            return self.still_held()
        return gone(route)

    def last_heard_of(self) -> datetime:
        """When the task was last sent, could first run, or was last attempted."""
        record = self.record
        moments = [record.sent_at, record.run_after, record.last_attempted_at, record.lease_expires_at]
        return max(moment for moment in moments if moment is not None)

    def still_held(self) -> bool:
        self.report.waiting += 1
        self.look_again(QUIET)
        return True

    def send_under_new_name(self, route: QueueRoute) -> bool:
        record = self.record
        renewed = TaskRecord.objects.filter(
            pk=record.pk, status=TaskResultStatus.READY, generation=record.generation,
            last_attempted_at=record.last_attempted_at,
        ).update(generation=record.generation + 1, sent_at=None, send_failures=0, send_error="")
        if not renewed:
            return True  # it started meanwhile
        logger.warning(
            "Task %s (%s) never started and Cloud Tasks no longer holds it (its queue's retries "
            "ran out): sending it again as %s",
            record.cloud_tasks_id(), record.task_path, task_id_of(record.pk, record.generation + 1),
        )
        self.report.resent += 1
        record.refresh_from_db()
        return self.send(route)

    def give_up(self, route: QueueRoute) -> bool:
        """No attempt is coming for a task that started: FAILED for good."""
        record = self.record
        reason = (
            f"the worker running attempt {len(record.attempts)} stopped, and its queue no longer holds the task"
            if record.status == TaskResultStatus.RUNNING
            else f"its queue stopped retrying it after attempt {len(record.attempts)} failed"
        )
        if not records.failed_unattended(record, reason, now=self.now):
            return True  # it moved on meanwhile
        logger.error("Task %s (%s) failed for good: %s", record.pk, record.task_path, reason)
        self.report.given_up += 1
        record.refresh_from_db()
        task_failed_permanently.send(sender=type(self.backend), task_result=result_of(record))
        return True

    def look_again(self, after: timedelta) -> None:
        TaskRecord.objects.filter(pk=self.record.pk, check_after=self.now + CLAIM).update(
            check_after=self.now + after
        )


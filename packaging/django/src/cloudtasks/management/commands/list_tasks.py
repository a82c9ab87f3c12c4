"""`manage.py list_tasks`: the tasks that need a look, for people without the admin.

    list_tasks                      pending, running, failed and stuck tasks, newest first
    list_tasks --state failed       one kind only
    list_tasks --limit 200          more of each (default 20)

pending: recorded, not yet taken by Cloud Tasks (the flush sends it). running: an
attempt holds its lease. failed: failed for good (re-drive it in the admin). stuck: what
the flush should have moved on and has not: a send that keeps failing, a worker whose
lease expired with no attempt since, a sent task that has not started long after it
could have.

Each state's count stops at 1000 ("failed: more than 1000"), and each state's query is
served by an index (cloudtasks.models), so the command is as quick at a million records
as at a hundred.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q, QuerySet
from django.tasks import TaskResultStatus
from django.utils import timezone

from cloudtasks.models import TaskRecord
from cloudtasks.operations.counting import capped_count
from cloudtasks.operations.flush import QUIET

STATES = ("pending", "running", "failed", "stuck")


def tasks_in(state: str) -> QuerySet[TaskRecord]:
    now = timezone.now()
    ready, running = TaskResultStatus.READY, TaskResultStatus.RUNNING
    match state:
        case "pending":
            return TaskRecord.objects.filter(status=ready, sent_at=None)
        case "running":
            return TaskRecord.objects.filter(status=running, lease_expires_at__gt=now)
        case "failed":
            return TaskRecord.objects.filter(status=TaskResultStatus.FAILED)
        case "stuck":
            return TaskRecord.objects.filter(
                Q(status=ready, sent_at=None, send_failures__gt=0)
                | Q(status=running, lease_expires_at__lte=now)
                | Q(status=ready, sent_at__lt=now - QUIET - timedelta(minutes=1), last_attempted_at=None)
            )
    raise ValueError(state)


class Command(BaseCommand):
    help = "List the tasks that are pending, running, failed for good, or stuck."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--state", choices=STATES, help="only tasks in this state (default: each state)")
        parser.add_argument("--limit", type=int, default=20, help="at most this many of each state (default 20)")

    def handle(self, *, state: str | None, limit: int, **options: Any) -> None:
        for shown in [state] if state else STATES:
            found = tasks_in(shown).order_by("-enqueued_at")
            self.stdout.write(f"{shown}: {capped_count(found)}")
            for record in found[:limit]:
                self.stdout.write(f"  {record.pk}  {record.task_path}  queue={record.queue_name}  "
                                  f"status={record.status}  enqueued={record.enqueued_at.isoformat()}  "
                                  f"attempts={len(record.attempts)}  {_detail(record)}")


def _detail(record: TaskRecord) -> str:
    """The one line that says most about where the task is."""
    if record.send_error and record.sent_at is None:
        return f"send error: {record.send_error}"
    if record.status == TaskResultStatus.RUNNING and record.attempts:
        return f"worker={record.attempts[-1]['worker_id']} lease until {record.lease_expires_at.isoformat()}"
    errors = [attempt["error"] for attempt in record.attempts if attempt.get("error")]
    if errors:
        return f"last error: {errors[-1]['traceback'].strip().splitlines()[-1]}"
    return ""

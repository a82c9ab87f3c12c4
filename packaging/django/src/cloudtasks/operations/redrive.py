"""Re-driving a task that failed for good: a new attempt, under a new name.

The record keeps its attempts and their errors (a cancelled task's cancel is taken back:
it runs); it becomes READY again, with the next
generation (its Cloud Tasks task is named id-N: a finished task's name stays taken for a
while), and is sent through the outbox as an enqueued task is: after the transaction
commits, within the request's send budget, else by the flush.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.tasks import TaskResultStatus, task_backends
from django.tasks.exceptions import InvalidTaskBackend
from django.utils import timezone

from cloudtasks.enqueue import outbox
from cloudtasks.enqueue.task_request import build_request
from cloudtasks.models import TaskRecord

logger = logging.getLogger(__name__)


def redrive(record_ids: Iterable[str]) -> tuple[list[TaskRecord], dict[str, str]]:
    """Re-drive those of the tasks that are FAILED. Returns the ones re-driven, and why
    others were not (by id): tasks that are not FAILED are left alone silently."""
    redriven, refused = [], {}
    with transaction.atomic():
        for record in TaskRecord.objects.select_for_update().filter(pk__in=list(record_ids),
                                                                     status=TaskResultStatus.FAILED):
            try:
                backend = task_backends[record.backend]
                route = backend.route(record.queue_name)
            except (InvalidTaskBackend, KeyError) as error:
                refused[record.pk] = f"TASKS here cannot send it: {error}"
                continue
            TaskRecord.objects.filter(pk=record.pk).update(
                status=TaskResultStatus.READY, generation=F("generation") + 1, sent_at=None,
                check_after=timezone.now() + outbox.SEND_CLAIM, send_failures=0, send_error="", finished_at=None,
                return_value=None, lease_token="", lease_expires_at=None, cancelled_at=None,
            )
            record.refresh_from_db()
            outbox.send_after_commit(
                record, build_request(route, record), client=backend.client(),
                budget=backend.backend_options.send_budget,
            )
            logger.info("Task %s (%s) re-driven as %s", record.pk, record.task_path, record.cloud_tasks_id())
            redriven.append(record)
    return redriven, refused

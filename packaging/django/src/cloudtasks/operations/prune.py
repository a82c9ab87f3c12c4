"""The prune: deletes the records of tasks that finished longer ago than their backend's
RETENTION (cloudtasks.config.options; 31 days by default and at least).

Run every hour by the app stack's schedule (the `prune_records` task), or by hand
(`manage.py prune_tasks [--dry-run]`). Only SUCCESSFUL and FAILED records go: a task
that has not finished keeps its record however old it is.

Each backend's records go oldest first, BATCH at a time, each batch in a transaction of
its own (a lock held for milliseconds), found through the index of finished records
(`cloudtasks_finished_idx`): a run with nothing to delete costs two index look-ups per
backend. Backends take turns by batch, so one with a backlog does not hold the others
up. A run stops once its time limit has passed (after the round of batches under way);
the next one goes on where it stopped.

Runs may overlap (a person running the command while the schedule's runs): on PostgreSQL
a batch is claimed with FOR UPDATE SKIP LOCKED, so two runs delete different rows, and a
record a re-drive has locked is left to it (it is READY after). On SQLite a transaction
takes the write lock when it begins ("transaction_mode": "IMMEDIATE"), so batches run one
after another.

Records of a backend TASKS does not name (renamed, or removed) are kept for the default
retention.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Min, QuerySet
from django.tasks.exceptions import InvalidTaskBackend
from django.utils import timezone

from cloudtasks.config.backends import cloud_tasks_backend
from cloudtasks.config.options import DEFAULT_RETENTION
from cloudtasks.models import FINISHED, TaskRecord

logger = logging.getLogger(__name__)

# Rows per transaction: a few milliseconds of deleting (docs/performance.md).
BATCH = 1000
# One run; the schedule's job may run for 180 s (the default queue's worker).
TIME_LIMIT_SECONDS = 120.0


@dataclass
class PruneReport:
    deleted: Counter[str] = field(default_factory=Counter)  # by backend alias
    stopped_early: bool = False  # the time limit came first: the next run goes on

    def __str__(self) -> str:
        counts = " ".join(f"{alias}={count}" for alias, count in sorted(self.deleted.items())) or "nothing to prune"
        return counts + (" stopped_early=true" if self.stopped_early else "")


def prune(*, now: datetime | None = None, time_limit: float = TIME_LIMIT_SECONDS) -> PruneReport:
    """Delete the finished records past their backend's retention at `now` (default: the
    current time), for at most `time_limit` seconds."""
    stop_at = time.monotonic() + time_limit
    report = PruneReport()
    remaining = cutoffs(now or timezone.now())
    report.deleted.update({alias: 0 for alias in remaining})
    while remaining:
        for alias, cutoff in list(remaining.items()):  # a batch of each backend in turn
            deleted = _delete_batch(due(alias, cutoff))
            report.deleted[alias] += deleted
            if deleted < BATCH:
                del remaining[alias]
        if remaining and time.monotonic() > stop_at:
            report.stopped_early = True
            break
    logger.info("Records pruned: %s", report)
    return report


def cutoffs(now: datetime) -> dict[str, datetime]:
    """For each backend that has finished records: the moment before which they finished
    to be pruned."""
    return {alias: now - retention_of(alias) for alias in _backends_with_finished_records()}


def due(alias: str, cutoff: datetime) -> QuerySet[TaskRecord]:
    """The records of backend `alias` the prune deletes, with that cutoff."""
    return TaskRecord.objects.filter(status__in=FINISHED, backend=alias, finished_at__lt=cutoff)


def retention_of(alias: str) -> timedelta:
    try:
        backend = cloud_tasks_backend(alias)
    except InvalidTaskBackend:
        return DEFAULT_RETENTION
    return backend.backend_options.retention


def _delete_batch(records: QuerySet[TaskRecord]) -> int:
    with transaction.atomic():
        claimed = list(
            records.select_for_update(skip_locked=True).order_by("finished_at").values_list("pk", flat=True)[:BATCH]
        )
        if not claimed:
            return 0
        deleted, _ = records.filter(pk__in=claimed).delete()
    return deleted


def _backends_with_finished_records() -> list[str]:
    """The backend aliases of finished records, one index look-up each (the smallest after
    the last found), rather than a DISTINCT over the table."""
    aliases: list[str] = []
    while True:
        finished = TaskRecord.objects.filter(status__in=FINISHED)
        if aliases:
            finished = finished.filter(backend__gt=aliases[-1])
        first = finished.aggregate(first=Min("backend"))["first"]
        if first is None:
            return aliases
        aliases.append(first)

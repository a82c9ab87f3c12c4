"""Repairing task records whose times cannot be read back.

Input is validated where it enters (cloudtasks.wire.payload, the backend), so this code
writes no such time. Earlier versions did: a push for a task without a record stored
its times as the payload gave them, and year 1 at +14:00 is before year 1 in UTC, which
PostgreSQL stores and Python cannot read. A person with SQL can write one too. Every
query that reads such a row fails: the flush's batch, the admin's list, `get_result`.

`repair_times` moves each time outside the range a record holds (cloudtasks.wire.moments) to
the nearest end of it: the row reads again, shows where it was wrong, and the flush can
handle it like any other. Why is kept in the row's `send_error` (shown in the admin and
by `list_tasks`) and in an error log line naming the task. The migration that brought
this in repairs what earlier versions wrote; the flush repairs a row it cannot read.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import models

from cloudtasks.wire import moments

logger = logging.getLogger(__name__)


def repair_times(rows: models.QuerySet) -> int:
    """Repair the times of `rows` (TaskRecord rows) that cannot be read back; returns how
    many rows it repaired. Reads no time that needs repair: it only compares and writes."""
    changes: dict[str, dict[str, datetime]] = {}
    notes: dict[str, list[str]] = {}
    for field in _time_fields(rows.model):
        for lookup, bound, side in (("lt", moments.EARLIEST, "before"), ("gt", moments.LATEST, "after")):
            stored_bound = moments.as_stored(bound)
            for record_id in rows.filter(**{f"{field}__{lookup}": stored_bound}).values_list("pk", flat=True):
                changes.setdefault(record_id, {})[field] = stored_bound
                notes.setdefault(record_id, []).append(f"{field} was {side} {bound.isoformat()}")
    for record_id, times in changes.items():
        why = (
            f"Repaired: {', '.join(notes[record_id])}, which cannot be read back (a record holds "
            f"{moments.RANGE}); set to that end of the range."
        )
        logger.error("Task %r: %s", record_id, why)
        rows.model.objects.filter(pk=record_id).update(**times, send_error=why)
    return len(changes)


def _time_fields(model: type[models.Model]) -> list[str]:
    return [field.name for field in model._meta.concrete_fields if isinstance(field, models.DateTimeField)]

"""Keeping a running task's lease: a thread renews it while the task runs.

The lease is short (the LEASE option, 30 s by default), so that a task whose worker died
(killed, its instance gone) is taken over by the next delivery within the lease, and
renewed every third of it, so that a task that runs for hours keeps it. A worker frozen
for longer than the lease (every thread stops) loses it: another delivery may take the
task over, and whatever the frozen one writes afterwards is refused (cloudtasks.records),
its database effects rolled back with its transaction (cloudtasks.runner).

The thread writes through a database connection of its own, opened for each renewal
and closed after it, so a running task costs one extra connection only for a moment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connections

from cloudtasks import records

logger = logging.getLogger(__name__)


@contextmanager
def kept(record_id: str, token: str, lease: float) -> Iterator[None]:
    """Renew the lease every `lease` / 3 seconds until the block ends."""
    stop = threading.Event()
    keeper = threading.Thread(
        target=_keep, args=(record_id, token, lease, stop), name=f"lease-{record_id}", daemon=True
    )
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        # Not joined: a renewal waiting on the database (SQLite's write lock, held by the
        # task's transaction until it ends) must not hold the task up.


def _keep(record_id: str, token: str, lease: float, stop: threading.Event) -> None:
    while not stop.wait(lease / 3):
        try:
            if not records.renew(record_id, token, lease):
                logger.warning("Task %s: lease lost; another worker has taken it over", record_id)
                return
        except DatabaseError as error:
            logger.warning("Task %s: could not renew the lease (%s); trying again", record_id, error)
        finally:
            connections.close_all()

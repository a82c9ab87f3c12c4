"""Slots: at most MAX_RUNNING job executions of a queue use the database at once.

Cloud Tasks' rate limits bound how often a queue starts job executions, not how many
run at once (Cloud Run allows 1,000 per region), and each running execution holds a
database connection. So before `manage.py run_task` uses the database for its task, it
takes one of its queue's MAX_RUNNING slots (cloudtasks.config.options): a PostgreSQL
session-level advisory lock on (a key of the queue, the slot's number), taken by the
very connection the task then runs on, so that a slot costs no connection of its own.
PostgreSQL releases it when that session ends, however it ends (the process exits, is
killed, its instance vanishes): a dead execution never keeps its slot. A session-level
lock outlives the transactions of the session, committed or rolled back
(https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS).

When every slot is taken, or the server refuses the connection or is unavailable (it
restarts, as for a Cloud SQL maintenance: cloudtasks.run.refusals), the execution closes its
connection, so that it holds nothing while it waits, waits with jittered backoff (0.5 s,
doubling to 5 s) and tries again, for up to the queue's SLOT_WAIT. (A job's max_retries
sets no delay between an execution's retries: without the wait, they could all meet a
restart of a few seconds, and a task whose attempt it had ended was failed for good by
the flush, the soak found.) Then it gives up (NoSlot) before it has claimed its task:
nothing is recorded, and `run_task` exits non-zero. Cloud Run retries the execution's task (up to
the job's max_retries), and should no retry find a slot either, the flush sends the
task again once it sees that the task never started (cloudtasks.operations.flush).

A waiting execution connects only to poll, for a few milliseconds a poll; the stack's
connection budget keeps room for those polls (stacks/connection_budget.py). A task that
closes Django's connection itself gives its slot up early. On SQLite (local runs)
there are no slots: one machine runs everything.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import Error, OperationalError, connection
from django.tasks import task_backends
from django.tasks.exceptions import InvalidTaskBackend

from cloudtasks.config.options import QueueRoute
from cloudtasks.run import refusals

logger = logging.getLogger(__name__)

FIRST_POLL_SECONDS = 0.5
LONGEST_POLL_SECONDS = 5.0

# The slots no session holds now, in random order (so that pollers spread over them).
# Advisory locks on two int4 keys show in pg_locks as classid, objid and objsubid 2, in
# the database they were taken in.
FREE_SLOTS = """
SELECT slot FROM generate_series(0, %(slots)s::int - 1) AS slot
WHERE NOT EXISTS (
    SELECT FROM pg_locks
    WHERE locktype = 'advisory' AND objsubid = 2 AND classid = %(key)s::int::oid AND objid = slot::oid
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
)
ORDER BY random()
"""


class NoSlot(Exception):
    """No slot of the queue came free within its SLOT_WAIT: the task was not started."""


@dataclass(frozen=True)
class Slot:
    queue_name: str
    key: int  # the queue's: the advisory lock's first key
    number: int  # from 0 to MAX_RUNNING - 1: its second key


@contextmanager
def held(backend_alias: str, queue_name: str) -> Iterator[Slot | None]:
    """Hold a slot of the queue (of backend `backend_alias`) while the block runs, on
    Django's default connection; None when the queue has no MAX_RUNNING, the backend
    does not route it (the task's run reports that), or the database is not PostgreSQL."""
    route = _route(backend_alias, queue_name)
    if route is None or route.max_running is None or connection.vendor != "postgresql":
        yield None
        return
    slot = _take(route, queue_name)
    try:
        yield slot
    finally:
        _give_back(slot)


def queue_key(queue_path: str) -> int:
    """The advisory lock key of a Cloud Tasks queue's slots: a non-negative int4. The
    queue path names one queue of one project, so apps that share a database share a
    queue's slots only if they share the queue."""
    # Named after the module as it was in 0.2: the same key in every version, so that
    # processes of two versions share the slots while a deploy replaces one with the other.
    return zlib.crc32(f"cloudtasks.slots:{queue_path}".encode()) & 0x7FFFFFFF


def _route(backend_alias: str, queue_name: str) -> QueueRoute | None:
    try:
        return task_backends[backend_alias].route(queue_name)
    except (InvalidTaskBackend, AttributeError, KeyError):
        return None


def _take(route: QueueRoute, queue_name: str) -> Slot:
    key = queue_key(route.queue_path)
    started = time.monotonic()
    waits = refusals.backoff(FIRST_POLL_SECONDS, LONGEST_POLL_SECONDS)
    polls = 0
    while True:
        polls += 1
        try:
            number = _free_slot_taken(key, route.max_running)
            busy = f"all {route.max_running} are taken"
        except OperationalError as error:
            if refusals.is_refusal(error):
                number, busy = None, f"the database refused a connection: {str(error).strip().splitlines()[-1]}"
            elif refusals.is_unavailable(error):
                # The first line says why; libpq adds a hint after it.
                number, busy = None, f"the database is unavailable: {str(error).strip().splitlines()[0]}"
            else:
                raise
        waited = time.monotonic() - started
        if number is not None:
            if polls > 1:
                logger.info("Took database slot %d of queue %r after waiting %.1f s", number, queue_name, waited)
            return Slot(queue_name, key, number)
        connection.close()  # nothing held while waiting
        delay = next(waits)
        if waited + delay > route.slot_wait:
            raise NoSlot(
                f"no database slot of queue {queue_name!r} came free within its SLOT_WAIT of "
                f"{route.slot_wait:g} s ({busy})"
            )
        if polls == 1:
            logger.info(
                "Waiting for a database slot of queue %r (%s), for up to %g s", queue_name, busy, route.slot_wait
            )
        time.sleep(delay)


def _free_slot_taken(key: int, slots: int) -> int | None:
    """The number of a free slot this session now holds, or None if all are taken."""
    with connection.cursor() as cursor:
        cursor.execute(FREE_SLOTS, {"key": key, "slots": slots})
        for (number,) in cursor.fetchall():
            # Another execution may take it between the two statements: try the next.
            cursor.execute("SELECT pg_try_advisory_lock(%s::int, %s::int)", [key, number])
            if cursor.fetchone()[0]:
                return number
    return None


def _give_back(slot: Slot) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s::int, %s::int)", [slot.key, slot.number])
    except Error:
        pass  # the session is gone, and its lock with it

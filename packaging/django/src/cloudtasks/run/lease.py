"""Keeping a running task's lease: one thread per process renews the leases it holds.

The lease is short (the LEASE option, 30 s by default), so that a task whose worker died
(killed, its instance gone) is taken over by the next delivery within the lease, and
renewed every third of it, so that a task that runs for hours keeps it. A worker frozen
for longer than the lease (every thread stops) loses it: another delivery may take the
task over, and whatever the frozen one writes afterwards is refused (cloudtasks.run.records),
its database effects rolled back with its transaction (cloudtasks.run.runner).

A renewal must commit while the task's own transaction is still open, so it needs a
connection besides the task's. One thread per process renews every lease the process
holds, through one connection of its own: it connects at the first renewal (a task that
finishes within a third of its lease never needs it), keeps the connection while the
process holds a lease, replaces it after an error, and closes it once the process holds
none. So a process costs the database at most one connection more than its task's,
however many renewals, which is what the stack's connection budget counts
(stacks/connection_budget.py); on PostgreSQL it shows in pg_stat_activity as
application_name "cloudtasks lease renewal PID". When the last lease of the process is
given up, `kept()` returns once that connection is closed (at most a second after the
task's transaction ended), so that a process outside `kept()` holds none. The task never
waits for a renewal: a renewal that waits on the database (SQLite's write lock, held by
the task's transaction until it ends) delays only the renewals after it.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from cloudtasks.run import records

logger = logging.getLogger(__name__)

RENEWAL_APPLICATION = "cloudtasks lease renewal"
# How long the last lease of a process waits for its renewal connection to close: a
# renewal under way (milliseconds, normally) finishes first. Not longer, so that a
# renewal stuck on an unreachable database cannot hold the process up.
CLOSE_WAIT_SECONDS = 1.0


@dataclass(order=True)
class _Held:
    due: float  # time.monotonic() of the next renewal
    number: int  # in the order they were taken: two leases due at once renew in that order
    record_id: str = field(compare=False)
    token: str = field(compare=False)
    lease: float = field(compare=False)


class _Renewer:
    """The process's renewal thread, and the leases it renews."""

    def __init__(self) -> None:
        self._held: list[_Held] = []
        self._connected = False  # whether the thread holds its connection
        # When the thread wakes next by itself (time.monotonic(); infinity: only when told).
        # A lease due later needs no wake-up: back-to-back tasks, each holding its lease for
        # milliseconds, would otherwise wake the thread twice each, for nothing to renew.
        self._wakes_at = math.inf
        self._changed = threading.Condition()
        self._numbers = itertools.count()
        self._thread: threading.Thread | None = None

    def hold(self, record_id: str, token: str, lease: float) -> _Held:
        held = _Held(time.monotonic() + lease / 3, next(self._numbers), record_id, token, lease)
        with self._changed:
            self._held.append(held)
            if self._thread is None:
                self._thread = threading.Thread(target=self._renew_forever, name="lease-renewal", daemon=True)
                self._thread.start()
            if held.due < self._wakes_at:
                self._changed.notify_all()
        return held

    def release(self, held: _Held) -> None:
        """Stop renewing `held`. The last lease of the process waits (a moment at most)
        for the renewal connection to close: a process outside `kept()` holds none, which
        a job execution counts on when it gives its slot back (cloudtasks/run/slots.py)."""
        with self._changed:
            if held in self._held:
                self._held.remove(held)
            if self._held or not self._connected:
                return  # no connection to close now; the thread finds the lease gone when it wakes
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._held or not self._connected, timeout=CLOSE_WAIT_SECONDS)

    def _renew_forever(self) -> None:
        while True:
            self._renew(self._next_due())

    def _next_due(self) -> _Held:
        """Wait for the lease renewed soonest to be due, and return it."""
        while True:
            with self._changed:
                if self._held:
                    soonest = min(self._held)
                    wait = soonest.due - time.monotonic()
                    if wait <= 0:
                        return soonest
                    self._wakes_at = soonest.due
                    self._changed.wait(wait)
                    continue
            # Holding no lease, the process needs no connection for renewals.
            self._disconnect()
            with self._changed:
                while not self._held:
                    self._wakes_at = math.inf
                    self._changed.wait()

    def _renew(self, held: _Held) -> None:
        try:
            self._connect()
            kept = records.renew(held.record_id, held.token, held.lease)
        except DatabaseError as error:
            logger.warning("Task %s: could not renew the lease (%s); trying again", held.record_id, error)
            self._disconnect()  # the next renewal connects anew
            kept = True
        with self._changed:
            if held not in self._held:
                return  # the task ended meanwhile: its lease was given up, not lost
            if not kept:
                logger.warning("Task %s: lease lost; another worker has taken it over", held.record_id)
                self._held.remove(held)
                return
            held.due = time.monotonic() + held.lease / 3

    def _connect(self) -> None:
        """This thread's connection, named for what it does if it is new."""
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.connection is not None:
            return
        with self._changed:
            self._connected = True  # from the first attempt: a failed one is closed too
        connection.ensure_connection()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET application_name = %s", [f"{RENEWAL_APPLICATION} {os.getpid()}"])

    def _disconnect(self) -> None:
        connections.close_all()
        with self._changed:
            self._connected = False
            self._changed.notify_all()


_renewer = _Renewer()


def _forget_in_child() -> None:
    # A forked child (a gunicorn worker) has no renewal thread, and holds no lease.
    global _renewer
    _renewer = _Renewer()


os.register_at_fork(after_in_child=_forget_in_child)


@contextmanager
def kept(record_id: str, token: str, lease: float) -> Iterator[None]:
    """Renew the lease every `lease` / 3 seconds until the block ends."""
    held = _renewer.hold(record_id, token, lease)
    try:
        yield
    finally:
        _renewer.release(held)

"""A connection PostgreSQL refuses because all its connection slots are taken, and waiting it
out; and a server that does not accept connections for a while (it restarts).

At its connection limit the server refuses a new connection outright, with SQLSTATE
53300 (too_many_connections): "sorry, too many clients already", or, when only the
slots reserved for superusers are left, "remaining connection slots are reserved for ...".
libpq reports an error of the start-up phase as text only, without its SQLSTATE, so the
refusal is told by the server's message, as PostgreSQL words it in English (its default,
and Cloud SQL's; a server with another `lc_messages` is not recognised, and its refusals
fail at once). https://www.postgresql.org/docs/current/errcodes-appendix.html

The stack's connection budget (stacks/connection_budget.py) is sized so that the limit is
not reached; what may still touch it for a moment (a job execution polling for a slot)
is waited out, with jitter, so that processes refused together do not retry together.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

# PostgreSQL's messages for SQLSTATE 53300 (src/backend/storage/lmgr/proc.c and
# src/backend/utils/init/postinit.c), from 12 to 17.
REFUSALS = (
    "sorry, too many clients already",
    "remaining connection slots are reserved",
    "too many connections for role",
    "too many connections for database",
)

# The server not accepting connections for a while: stopped (nothing listens on its port:
# libpq's "Connection refused"), starting up, shutting down or recovering (SQLSTATE 57P03
# cannot_connect_now), or ending sessions to shut down (57P01 admin_shutdown), as when
# Cloud SQL restarts an instance for maintenance or fails over. PostgreSQL's words, from
# src/backend/utils/init/postinit.c and src/backend/tcop/postgres.c, 12 to 17.
UNAVAILABLE = (
    "Connection refused",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "the database system is not accepting connections",
    "terminating connection due to administrator command",
)

T = TypeVar("T")


def is_refusal(error: BaseException) -> bool:
    """Whether `error` (psycopg's, or Django's wrapping it) is the server refusing a
    connection for want of connection slots."""
    return any(refusal in str(error) for refusal in REFUSALS)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` (psycopg's, or Django's wrapping it) is the server not accepting
    connections for a while: stopped or restarting."""
    return any(unavailable in str(error) for unavailable in UNAVAILABLE)


def backoff(first: float, longest: float) -> Iterator[float]:
    """Seconds to wait before each next try: doubling from `first` to at most `longest`,
    each drawn from its upper half ("equal jitter")."""
    delay = first
    while True:
        yield random.uniform(delay / 2, delay)
        delay = min(delay * 2, longest)


def retry_refused(connect: Callable[[], T], *, within: float, first: float = 0.05, longest: float = 0.5) -> T:
    """`connect()`, tried again while the server refuses it for want of slots, for up to
    `within` seconds in all; then its last refusal is raised. Other errors are raised at once."""
    give_up_at = time.monotonic() + within
    for delay in backoff(first, longest):
        try:
            return connect()
        except Exception as error:
            if not is_refusal(error) or time.monotonic() + delay > give_up_at:
                raise
        time.sleep(delay)
    raise AssertionError("unreachable: backoff() never ends")

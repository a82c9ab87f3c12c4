"""DATABASES ENGINE "cloudtasks.postgresql": Django's PostgreSQL backend, except that

- a new connection the server refuses for want of connection slots is tried again for
  up to REFUSED_WAIT_SECONDS, instead of failing the request (or the lease renewal) at
  once;
- a connection that ran a statement less than HEALTH_CHECK_AFTER_IDLE_SECONDS ago is not
  health-checked again before the next request uses it.

The stack's connection budget leaves room for the moments a job execution polls for a
slot (cloudtasks/run/slots.py); should a web worker's connection meet one of those moments
at the limit, it waits a few milliseconds rather than answering 500. A wait this short
cannot hold a request up for long: a database that stays full is an error after it.

The health check (CONN_HEALTH_CHECKS, a `SELECT 1` before a request's first statement)
is there for connections that sat idle: Cloud Run throttles an idle instance's CPU, and
the server or a proxy may close a connection meanwhile. Under load a worker serves
requests back to back, and the check was one round trip, and one transaction, in every
task's eight. A connection that just ran a statement is as good as checked; should the
server have closed it within the second all the same (a restart), that request fails
(a push answers 500, and Cloud Tasks retries it) and the next one reconnects, as it would
had the server closed it mid-request.

Everything else is Django's: persistent connections (CONN_MAX_AGE), the psycopg pool if
OPTIONS asks for one.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.db.backends.postgresql import base

from cloudtasks.run.refusals import retry_refused

REFUSED_WAIT_SECONDS = 2.0
HEALTH_CHECK_AFTER_IDLE_SECONDS = 1.0


class DatabaseWrapper(base.DatabaseWrapper):
    _used_at = -math.inf  # time.monotonic() of the last cursor this connection gave

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connect = super().get_new_connection
        return retry_refused(lambda: connect(conn_params), within=REFUSED_WAIT_SECONDS)

    def close_if_health_check_failed(self) -> None:
        if self.connection is not None and time.monotonic() - self._used_at < HEALTH_CHECK_AFTER_IDLE_SECONDS:
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _cursor(self, name: str | None = None) -> Any:
        cursor = super()._cursor(name)
        self._used_at = time.monotonic()
        return cursor

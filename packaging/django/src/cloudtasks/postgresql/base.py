"""DATABASES ENGINE "cloudtasks.postgresql": Django's PostgreSQL backend, except that a
new connection the server refuses for want of connection slots is tried again for up
to REFUSED_WAIT_SECONDS, instead of failing the request (or the lease renewal) at once.

The stack's connection budget leaves room for the moments a job execution polls for a
slot (cloudtasks/run/slots.py); should a web worker's connection meet one of those moments
at the limit, it waits a few milliseconds rather than answering 500. A wait this short
cannot hold a request up for long: a database that stays full is an error after it.
Everything else is Django's: persistent connections (CONN_MAX_AGE), health checks, the
psycopg pool if OPTIONS asks for one.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base

from cloudtasks.run.refusals import retry_refused

REFUSED_WAIT_SECONDS = 2.0


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connect = super().get_new_connection
        return retry_refused(lambda: connect(conn_params), within=REFUSED_WAIT_SECONDS)

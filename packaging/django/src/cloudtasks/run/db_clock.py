"""The database's clock, which every lease decision reads the time from.

Workers' clocks disagree: a container's clock may be off by seconds or more, and a
worker ahead of the others would take over a task whose lease had not expired yet (two
attempts at once). The database is where every worker meets, so a lease is taken,
renewed, judged expired and given up on by its time: PostgreSQL's `statement_timestamp()`,
SQLite's own clock (`Now` below, everywhere). The claim reads it in its own SELECT and
a renewal computes the expiry in its UPDATE, so neither costs a round trip; this module
reads it alone, for the few callers with no query of their own to carry it.
"""

from __future__ import annotations

from datetime import datetime

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import functions
from django.db.models.sql import Query


class Now(functions.Now):
    """Django's Now(), in the convention the project stores times in. Under USE_TZ =
    False Django stores local times, naive; PostgreSQL's clock then answers in the
    connection's time zone, which Django sets to TIME_ZONE, but Django's Now() on SQLite
    gives UTC. SQLite's 'localtime' is the process's time zone, which Django sets to
    TIME_ZONE at start-up (the TZ variable)."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:
        if settings.USE_TZ:
            return super().as_sqlite(compiler, connection, **extra_context)
        return self.as_sql(
            compiler, connection, template="STRFTIME('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%f', 'NOW', 'localtime')",
            **extra_context,
        )


def now(using: str = DEFAULT_DB_ALIAS) -> datetime:
    """The database's current time: one SELECT, from no table."""
    query = Query(None)
    query.add_annotation(Now(), "now")
    [[moment]] = query.get_compiler(using).results_iter()
    return moment

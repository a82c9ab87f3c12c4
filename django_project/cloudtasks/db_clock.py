"""The database's clock, which every lease decision reads the time from.

Workers' clocks disagree: a container's clock may be off by seconds or more, and a
worker ahead of the others would take over a task whose lease had not expired yet (two
attempts at once). The database is where every worker meets, so a lease is taken,
renewed, judged expired and given up on by its time: PostgreSQL's `statement_timestamp()`,
SQLite's own clock (Django's `Now()` on both). The claim reads it in its own SELECT and
a renewal computes the expiry in its UPDATE, so neither costs a round trip; this module
reads it alone, for the few callers with no query of their own to carry it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import DEFAULT_DB_ALIAS
from django.db.models.functions import Now
from django.db.models.sql import Query


def now(using: str = DEFAULT_DB_ALIAS) -> datetime:
    """The database's current time: one SELECT, from no table."""
    query = Query(None)
    query.add_annotation(Now(), "now")
    [[moment]] = query.get_compiler(using).results_iter()
    return moment

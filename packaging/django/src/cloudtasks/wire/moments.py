"""Moments in time: aware and in UTC on the wire, as the project's settings say in the database.

A payload carries its times aware and in UTC, whatever USE_TZ says, so that the run side
reads the same instant the enqueuing side meant. The database holds them as Django does
under the project's settings: aware with USE_TZ = True; naive, in the default time zone
(TIME_ZONE), with USE_TZ = False.

Every time a task's record holds lies between EARLIEST and LATEST. Python's datetime
holds years 1 to 9999 only, while PostgreSQL's timestamptz stores from 4713 BC (and
SQLite any text): a time outside Python's years is written, and then cannot be read back.
The day kept clear at each end keeps a time within those years in every time zone (UTC
offsets are less than a day), as it is read with USE_TZ = False.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
RANGE = f"from {EARLIEST.isoformat()} to {LATEST.isoformat()} (in UTC)"


class OutOfRange(ValueError):
    """A time a record cannot hold: completes "<field> ...", and names the range."""


def in_utc(moment: datetime) -> datetime:
    """`moment` aware and in UTC; a naive one is in the default time zone, as the database
    gives times with USE_TZ = False. OutOfRange outside EARLIEST to LATEST."""
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # before year 1 or after year 9999, once in UTC
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise OutOfRange(f"is {moment.isoformat()}, outside what a record holds: {RANGE}")
    return utc


def as_stored(moment: datetime) -> datetime:
    """An aware `moment` (within range) as the database holds it under the project's settings."""
    if settings.USE_TZ:
        return moment
    return timezone.make_naive(moment, timezone.get_default_timezone())

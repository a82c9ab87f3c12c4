"""The local scheduler reads a schedule's cron expression in its time zone, as Cloud Scheduler does."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from local_run.scheduler import Schedule, Scheduler, UnsupportedSchedule


def schedule(cron: str, time_zone: str) -> Schedule:
    return Schedule("djapp-nightly", "projects/local/locations/local/jobs/djapp-default", cron, time_zone, ["--task", "x"])


def test_a_schedule_fires_at_its_time_in_its_time_zone():
    nightly = schedule("0 3 * * *", "Europe/Paris")

    # 03:00 in Paris is 01:00 UTC in summer (CEST) and 02:00 UTC in winter (CET).
    assert nightly.next_after(datetime(2026, 7, 1, 12, tzinfo=UTC)) == datetime(2026, 7, 2, 1, tzinfo=UTC)
    assert nightly.next_after(datetime(2026, 12, 1, 12, tzinfo=UTC)) == datetime(2026, 12, 2, 2, tzinfo=UTC)


def test_the_scheduler_fires_when_a_schedule_comes_due_and_not_before():
    start = datetime(2026, 1, 1, 11, 59, 59, 500000, tzinfo=UTC)
    began = time.monotonic()
    fired: list[Schedule] = []
    stopping = threading.Event()
    every_minute = schedule("* * * * *", "UTC")
    # A clock half a second before a minute starts, running at the real pace.
    scheduler = Scheduler([every_minute], fired.append, now=lambda: start + timedelta(seconds=time.monotonic() - began),
                          stopping=stopping)

    scheduler.start()
    time.sleep(0.2)
    before = list(fired)
    time.sleep(0.6)
    stopping.set()

    assert (before, fired) == ([], [every_minute])


def test_an_english_like_schedule_is_refused_with_what_to_do():
    with pytest.raises(UnsupportedSchedule, match="fires unix-cron schedules .* only"):
        schedule("every 5 minutes", "UTC")

"""The local scheduler reads a schedule in its time zone, in either of Cloud Scheduler's
formats, as Cloud Scheduler does; one it cannot read stops the run with what to write."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from local_run.scheduler import InvalidSchedule, Schedule, Scheduler


def schedule(cron: str, time_zone: str) -> Schedule:
    return Schedule("djapp-nightly", "projects/local/locations/local/jobs/djapp-default", cron, time_zone, ["--task", "x"])


def test_a_schedule_fires_at_its_time_in_its_time_zone():
    nightly = schedule("0 3 * * *", "Europe/Paris")

    # 03:00 in Paris is 01:00 UTC in summer (CEST) and 02:00 UTC in winter (CET).
    assert nightly.next_after(datetime(2026, 7, 1, 12, tzinfo=UTC)) == datetime(2026, 7, 2, 1, tzinfo=UTC)
    assert nightly.next_after(datetime(2026, 12, 1, 12, tzinfo=UTC)) == datetime(2026, 12, 2, 2, tzinfo=UTC)


def fired_within(every: Schedule, start: datetime, seconds: float) -> tuple[list[Schedule], list[Schedule]]:
    """What the scheduler fired in its first 0.2 s and by `seconds`, on a clock from
    `start` at the real pace."""
    began = time.monotonic()
    fired: list[Schedule] = []
    stopping = threading.Event()
    scheduler = Scheduler([every], fired.append, now=lambda: start + timedelta(seconds=time.monotonic() - began),
                          stopping=stopping)

    scheduler.start()
    time.sleep(0.2)
    before = list(fired)
    time.sleep(seconds - 0.2)
    stopping.set()
    return before, fired


def test_the_scheduler_fires_when_a_schedule_comes_due_and_not_before():
    every_minute = schedule("* * * * *", "UTC")
    # A clock half a second before a minute starts.
    start = datetime(2026, 1, 1, 11, 59, 59, 500000, tzinfo=UTC)

    assert fired_within(every_minute, start, 0.8) == ([], [every_minute])


def test_an_english_like_schedule_fires_locally_at_its_time():
    every_5_minutes = schedule("every 5 minutes", "UTC")
    # Half a second before 12:05, a time of the schedule (counted from 00:00).
    start = datetime(2026, 1, 1, 12, 4, 59, 500000, tzinfo=UTC)

    assert fired_within(every_5_minutes, start, 0.8) == ([], [every_5_minutes])


@pytest.mark.parametrize(("english", "after", "expected"), [
    ("every monday 09:00", datetime(2026, 7, 1, 12, tzinfo=UTC), datetime(2026, 7, 6, 7, tzinfo=UTC)),
    ("every 2 hours from 10:00 to 14:00", datetime(2026, 7, 1, 12, 30, tzinfo=UTC), datetime(2026, 7, 2, 8, tzinfo=UTC)),
    ("1st mon of quarter 09:00", datetime(2026, 7, 7, tzinfo=UTC), datetime(2026, 10, 5, 7, tzinfo=UTC)),
    ("2nd,third mon,wed,thu of march 17:00", datetime(2026, 3, 12, tzinfo=UTC), datetime(2026, 3, 12, 16, tzinfo=UTC)),
    ("1,15 of month 06:00", datetime(2026, 7, 2, tzinfo=UTC), datetime(2026, 7, 15, 4, tzinfo=UTC)),
])
def test_english_like_schedules_fire_at_their_times_in_their_time_zone(english, after, expected):
    # Europe/Paris is UTC+2 in summer, UTC+1 from the end of October to the end of March.
    assert schedule(english, "Europe/Paris").next_after(after) == expected


@pytest.mark.parametrize(("bad", "problem"), [
    ("every 0 minutes", "an interval is at least 1"),
    ("every funday 09:00", "expected \"day\" or a weekday, found 'funday'"),
    ("61 * * * *", "minute '61': '61' is not 0-59"),
    ("* * * *", "cannot read"),
])
def test_a_schedule_it_cannot_read_is_refused_with_what_to_write(bad, problem):
    with pytest.raises(InvalidSchedule, match=re.escape(problem) + ".*write unix-cron, five fields"):
        schedule(bad, "UTC")


# Read the same way on both sides: the constructs judge a schedule at synth
# (constructs_lib/schedules.py), the local scheduler and the runs read it here.
JUDGED = [
    "* * * * *", "*/5 * * * *", "0 3 * * MON-FRI", "0 0 1 JAN,JUL *", "5-20/5 1-3 * * 7", "0 0 29 2 *",
    "every 5 minutes", "every 5 mins", "every 2 hours from 10:00 to 14:00", "every 1 hours synchronized",
    "every monday 09:00", "every day 00:00", "2nd,third mon,wed,thu of march 17:00", "1,15 of month 06:00",
    "1st mon of quarter 09:00", "first,third month of quarter", "every 0 minutes", "every funday 09:00",
    "61 * * * *", "* * * *", "*/0 * * * *", "5/2 * * * *", "10-5 * * * *", "0 0 * * 8", "@hourly",
    "every 5 minutes please", "32 of month 10:00", "every monday 25:00", "1st mon of 4th month of quarter 09:00",
]


@pytest.mark.parametrize("text", JUDGED)
def test_the_local_scheduler_accepts_exactly_what_the_constructs_accept(text):
    from constructs_lib.schedules import check_schedule
    from constructs_lib.validation import ConstructValidationError

    try:
        check_schedule("ScheduledTrigger t", "schedule", text)
        constructs_accept = True
    except ConstructValidationError:
        constructs_accept = False
    try:
        schedule(text, "UTC")
        local_accepts = True
    except InvalidSchedule:
        local_accepts = False

    assert local_accepts == constructs_accept

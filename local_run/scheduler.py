"""Cloud Scheduler, played locally: the stack's schedules fire on their cron expressions.

Each schedule the app stack declares (stacks/app_stack.py, `SCHEDULES`) starts an
execution of its queue's worker job with its args when its cron expression, read in its
time zone, comes due, as the ScheduledTrigger the stack makes does in the cloud.
A schedule due while its previous execution still runs starts another, as Cloud
Scheduler does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter


class UnsupportedSchedule(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    name: str
    job_path: str
    cron: str
    time_zone: str
    args: Sequence[str]

    def __post_init__(self) -> None:
        # Cloud Scheduler also takes App Engine's English-like format ("every 5 minutes"),
        # which the constructs accept; this scheduler reads unix-cron only.
        if not croniter.is_valid(self.cron):
            raise UnsupportedSchedule(
                f"schedule {self.name} is {self.cron!r}: the local scheduler fires unix-cron schedules "
                f"(five fields) only; declare it as unix-cron to run it locally"
            )

    def next_after(self, moment: datetime) -> datetime:
        """When it fires next after `moment` (aware), in its time zone."""
        return croniter(self.cron, moment.astimezone(ZoneInfo(self.time_zone))).get_next(datetime)


class Scheduler:
    def __init__(
        self, schedules: Sequence[Schedule], fire: Callable[[Schedule], None], *,
        now: Callable[[], datetime], stopping: threading.Event,
    ) -> None:
        self._schedules = schedules
        self._fire = fire
        self._now = now
        self._stopping = stopping

    def start(self) -> None:
        for schedule in self._schedules:
            threading.Thread(target=self._keep, args=(schedule,), daemon=True).start()

    def _keep(self, schedule: Schedule) -> None:
        due = schedule.next_after(self._now())
        while not self._stopping.wait(max(0.0, (due - self._now()).total_seconds())):
            if self._now() < due:
                continue  # woke early
            self._fire(schedule)
            due = schedule.next_after(self._now())  # a missed run is not made up, as in Cloud Scheduler

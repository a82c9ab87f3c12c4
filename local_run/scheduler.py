"""Cloud Scheduler, played locally: the app's schedules fire at their times.

Each schedule of the app stack (stacks/app_stack.py `app_schedules`: the periodic tasks
the Django project declares) starts an execution of its queue's worker job with its args
when it comes due, read in its time zone, as the ScheduledTrigger the stack makes does in
the cloud. Both of Cloud Scheduler's formats fire: unix-cron and the English-like one
("every 5 minutes"), read by cloudtasks.config.schedules, as the run's own execution
reads them to name its record. A schedule due while its previous execution still runs
starts another, as Cloud Scheduler does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cloudtasks.config.schedules import InvalidSchedule, Timetable

__all__ = ["InvalidSchedule", "Schedule", "Scheduler"]


@dataclass(frozen=True)
class Schedule:
    name: str
    job_path: str
    schedule: str  # unix-cron, or the English-like format
    time_zone: str
    args: Sequence[str]
    timetable: Timetable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "timetable", Timetable.parse(self.schedule, self.time_zone))
        except InvalidSchedule as error:
            raise InvalidSchedule(f"schedule {self.name}: {error}") from None

    def next_after(self, moment: datetime) -> datetime:
        """When it fires next after `moment` (aware), in its time zone."""
        return self.timetable.next_after(moment)


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

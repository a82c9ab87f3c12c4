"""Periodic tasks: a task declared with @task, and when it runs, declared beside the code.

A project lists its periodic tasks in a module of its own that imports nothing but this
one, and names the list in its settings:

    # config/periodic.py
    from cloudtasks.periodic import Periodic

    PERIODIC = (
        Periodic("nightly-report", task="reports.tasks.nightly", schedule="0 3 * * *",
                 time_zone="Europe/Paris", queue="long"),
    )

    # config/settings.py
    from config.periodic import PERIODIC as CLOUD_TASKS_PERIODIC

A setting rather than a decorator on the task: the task stays a plain @task (enqueued,
tested and run like any other), the project decides what runs when (the app's own
flush and prune included, whose module it does not own), and the module can be read
without Django: the infrastructure stack reads it at synth to make a Cloud Scheduler
job of each (stacks/periodic.py), and scripts/dev.sh fires the same ones locally.

A declaration is checked as it is made (InvalidPeriodic: its name, schedule, time zone,
queue name, arguments); `manage.py check` checks what needs Django (cloudtasks.checks:
the task is declared with @task, on that queue, and takes those arguments); the stack
checks that its queue has a worker. Each run is a task record, keyed by the schedule's
time (cloudtasks.run.scheduled): a second firing for the same time runs nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudtasks.config.schedules import InvalidSchedule, Timetable

SETTING = "CLOUD_TASKS_PERIODIC"
# Cloud Scheduler's job ids: letters, digits, hyphens and underscores, at most 500
# (https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#Job.FIELDS.name);
# the stack prefixes the app's name, and the name shows in logs and the admin: 1-100 here.
NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
TASK_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")
# Cloud Scheduler's description limit (constructs_lib/limits.py SCHEDULER_DESCRIPTION_MAX).
DESCRIPTION_MAX = 500


class InvalidPeriodic(ValueError):
    pass


@dataclass(frozen=True)
class Periodic:
    """`task` (the path of a function declared with @task) runs on `schedule` (unix-cron,
    or Cloud Scheduler's English-like format), read in `time_zone`, with `args` and
    `kwargs` (JSON), in an execution of the worker job of `queue`, the task's queue."""

    name: str
    task: str
    schedule: str
    time_zone: str = "UTC"
    queue: str = "default"
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        what = f"Periodic {self.name!r}"
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise InvalidPeriodic(f"{what}: name must be 1-100 letters, digits, '-' or '_' (a Cloud Scheduler job id)")
        if not isinstance(self.task, str) or not TASK_PATH.fullmatch(self.task):
            raise InvalidPeriodic(
                f"{what}: task is {self.task!r}; it must be the dotted path of a function declared with @task, "
                f"like 'reports.tasks.nightly'"
            )
        if not isinstance(self.queue, str) or not QUEUE_NAME.fullmatch(self.queue):
            raise InvalidPeriodic(f"{what}: queue is {self.queue!r}; it must be a django.tasks queue name")
        if not isinstance(self.description, str) or len(self.description) > DESCRIPTION_MAX:
            raise InvalidPeriodic(f"{what}: description must be text of at most {DESCRIPTION_MAX} characters")
        if not isinstance(self.args, (list, tuple)) or not isinstance(self.kwargs, Mapping):
            raise InvalidPeriodic(f"{what}: args must be a list (or tuple) and kwargs a dict")
        try:
            json.dumps([list(self.args), dict(self.kwargs)], allow_nan=False)
        except (TypeError, ValueError) as error:
            raise InvalidPeriodic(f"{what}: args and kwargs must be JSON values, as a task's are: {error}") from None
        try:
            self.timetable
        except InvalidSchedule as error:
            raise InvalidPeriodic(f"{what}: {error}") from None

    @property
    def timetable(self) -> Timetable:
        return Timetable.parse(self.schedule, self.time_zone)


def declarations(value: object) -> tuple[Periodic, ...]:
    """The setting's value as declarations; InvalidPeriodic if it is not a list of
    Periodic with names of their own."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, Periodic) for p in value):
        raise InvalidPeriodic(f"{SETTING} must be a list of cloudtasks.periodic.Periodic, not {value!r}")
    names = [p.name for p in value]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidPeriodic(f"{SETTING} declares {', '.join(map(repr, repeated))} more than once; names are unique")
    return tuple(value)


def declared() -> tuple[Periodic, ...]:
    """The project's periodic tasks (settings.CLOUD_TASKS_PERIODIC; none if unset)."""
    from django.conf import settings  # only here: a declaration module imports this one without Django

    return declarations(getattr(settings, SETTING, ()))


def named(name: str) -> Periodic:
    """The declaration called `name`; InvalidPeriodic names the ones there are."""
    found = {p.name: p for p in declared()}
    if name not in found:
        raise InvalidPeriodic(
            f"no periodic task is called {name!r} in {SETTING}; "
            f"declared: {', '.join(map(repr, found)) or 'none'}"
        )
    return found[name]

"""A Cloud Tasks queue's retry policy, as the run side needs to understand it.

The stack declares each queue's RetryConfig and passes what it declared to Django (the
`retry` of each queue in CLOUD_TASKS_QUEUES); a field it leaves out is one Cloud Tasks
picks its default for, and `read_retry` fills in the same default. With the policy,
the run side can tell a task's last attempt (`gives_up`) and how long Cloud Tasks may
keep retrying one (`retry_window`).

Sources (Cloud Tasks v2 API, RetryConfig; https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues#retryconfig):
- Cloud Tasks stops retrying only when max_attempts and max_retry_duration are both
  satisfied; -1 attempts and a zero duration each mean "no limit", and with neither
  limit a task is retried until the task retention limit (31 days,
  https://cloud.google.com/tasks/docs/quotas).
- Retry intervals start at min_backoff, double max_doublings times, then grow
  linearly by 2^max_doublings * min_backoff, and never exceed max_backoff
  (10s/300s/3 doublings retries at 10s, 20s, 40s, 80s, 160s, 240s, 300s, 300s, ...).
- Defaults of a queue created without a RetryConfig, as `gcloud tasks queues describe`
  shows them (https://cloud.google.com/tasks/docs/add-task-queue): maxAttempts 100,
  minBackoff 0.100s, maxBackoff 3600s, maxDoublings 16, no maxRetryDuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

UNLIMITED_ATTEMPTS = -1
TASK_RETENTION = timedelta(days=31)

# Field names are the API's (and the Terraform provider's): the stack passes them as declared.
DEFAULTS: Mapping[str, Any] = {
    "max_attempts": 100,
    "min_backoff": "0.100s",
    "max_backoff": "3600s",
    "max_doublings": 16,
    "max_retry_duration": "0s",
}
_DURATION = re.compile(r"(\d+(?:\.\d{1,9})?)s")  # a protobuf Duration: "600s", "0.100s"


@dataclass(frozen=True)
class RetryPolicy:
    """The retry policy in effect on a queue. Attempts are counted from 1, as
    django.tasks counts them; durations are measured from the first attempt."""

    max_attempts: int  # UNLIMITED_ATTEMPTS: no limit on attempts
    min_backoff: timedelta
    max_backoff: timedelta
    max_doublings: int
    max_retry_duration: timedelta  # zero: no limit on time

    def declared(self) -> dict[str, Any]:
        """The policy as a queue declares it (the API's fields): what `read_retry` reads back."""
        durations = ("min_backoff", "max_backoff", "max_retry_duration")
        return {
            "max_attempts": self.max_attempts,
            "max_doublings": self.max_doublings,
            **{field: _seconds(getattr(self, field)) for field in durations},
        }

    def delay_before_retry(self, retry: int) -> timedelta:
        """How long after a failed attempt Cloud Tasks waits before retry number `retry` (1, 2, ...)."""
        if retry <= self.max_doublings + 1:
            delay = self.min_backoff * 2 ** (retry - 1)
        else:
            step = self.min_backoff * 2**self.max_doublings
            delay = step * (retry - self.max_doublings)
        return min(delay, self.max_backoff)

    def gives_up(self, attempts: int, since_first_attempt: timedelta) -> bool:
        """Whether a task that failed its attempt number `attempts`, that long after its
        first attempt, is not retried: every limit the queue sets has been reached."""
        if self.max_attempts == UNLIMITED_ATTEMPTS and not self.max_retry_duration:
            return since_first_attempt >= TASK_RETENTION
        attempts_reached = self.max_attempts == UNLIMITED_ATTEMPTS or attempts >= self.max_attempts
        duration_reached = since_first_attempt >= self.max_retry_duration
        return attempts_reached and duration_reached

    def retry_window(self, attempt_duration: timedelta = timedelta(0)) -> timedelta:
        """How long after its first attempt Cloud Tasks may still start an attempt of a task
        that keeps failing, each attempt taking `attempt_duration`: after that, it has
        given up (at most the task retention limit)."""
        attempts, elapsed = 1, timedelta(0)
        while not self.gives_up(attempts, elapsed + attempt_duration):
            step = attempt_duration + self.delay_before_retry(attempts)
            if not step:  # zero backoff and instant attempts: time never advances
                return min(self.max_retry_duration or TASK_RETENTION, TASK_RETENTION)
            attempts, elapsed = attempts + 1, elapsed + step
            if elapsed >= TASK_RETENTION:
                return TASK_RETENTION
        return elapsed


class InvalidRetry(ValueError):
    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)  # field: what is wrong, completing "<field> ..."
        super().__init__("; ".join(f"{field} {message}" for field, message in problems.items()))


def read_retry(declared: Mapping[str, Any]) -> RetryPolicy:
    """The policy in effect when a queue declares `declared` (API field names; a field
    left out takes Cloud Tasks' default). InvalidRetry lists every field that is wrong."""
    problems: dict[str, str] = {}
    for field in sorted(set(declared) - set(DEFAULTS)):
        problems[field] = f"is not a retry setting; they are {', '.join(DEFAULTS)}"
    values = {**DEFAULTS, **declared}
    counts = {
        "max_attempts": _count(values, "max_attempts", problems, minimum=1, unlimited=UNLIMITED_ATTEMPTS),
        "max_doublings": _count(values, "max_doublings", problems, minimum=0),
    }
    durations = {
        field: _duration(values, field, problems)
        for field in ("min_backoff", "max_backoff", "max_retry_duration")
    }
    if not problems and durations["min_backoff"] > durations["max_backoff"]:
        problems["min_backoff"] = f"is longer than max_backoff ({values['max_backoff']!r})"
    if problems:
        raise InvalidRetry(problems)
    return RetryPolicy(**counts, **durations)


def _count(
    values: Mapping[str, Any], field: str, problems: dict[str, str], *, minimum: int, unlimited: int | None = None
) -> int:
    value = values[field]
    # bool is an int to Python, but True attempts is a mistake.
    if isinstance(value, bool) or not isinstance(value, int) or (value < minimum and value != unlimited):
        allowed = f"a whole number, {minimum} or more" + (f", or {unlimited} for no limit" if unlimited is not None else "")
        problems[field] = f"is {value!r}; it must be {allowed}"
        return minimum
    return value


def _duration(values: Mapping[str, Any], field: str, problems: dict[str, str]) -> timedelta:
    value = values[field]
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        problems[field] = f'is {value!r}; it must be a duration in seconds like "600s" or "0.100s"'
        return timedelta(0)
    return timedelta(seconds=float(Decimal(match[1])))


def _seconds(duration: timedelta) -> str:
    """A protobuf Duration: "600s", "0.1s"."""
    return f"{duration.total_seconds():.9f}".rstrip("0").rstrip(".") + "s"

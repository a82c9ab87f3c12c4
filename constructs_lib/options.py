"""Grouped, typed options of the constructs, with their defaults and their checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from . import limits
from .validation import ConstructValidationError, check_duration, check_range, is_unresolved, parse_duration

# Fields Google documents only as int32, with no other bound.
_INT32_MAX = 2**31 - 1

_TRUNCATED = "Cloud Tasks truncates durations to whole seconds, and Terraform would then show a change on every plan"


def _no_zero_doublings(construct: str, option: str, value: int | None, google_default: int, instead: str) -> None:
    # The provider leaves zero values out of the request (limits.py), so Google's default
    # would apply and every plan would try to set 0 again.
    if value == 0 and not is_unresolved(value):
        raise ConstructValidationError(
            construct, option, 0,
            f"at least 1: the Google provider does not send 0, so Google's default ({google_default}) would apply "
            f"and every plan would show a change; {instead}",
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How Cloud Tasks retries a task whose call failed.

    None leaves a field to Cloud Tasks, whose defaults are: 100 attempts, backoff
    from 0.1s to 3600s doubling 16 times, no limit on the total retry duration.
    A task is retried until both `max_attempts` and `max_retry_duration` are
    reached (whichever comes later), not the first of them.
    """

    max_attempts: int | None = None  # at least 1, or -1 for unlimited
    min_backoff: str | None = None  # whole seconds, e.g. "10s"
    max_backoff: str | None = None  # whole seconds, e.g. "600s"
    max_doublings: int | None = None  # at least 1 (for a constant backoff, set min_backoff = max_backoff)
    max_retry_duration: str | None = None  # whole seconds; "0s" means unlimited

    def check(self, construct: str) -> None:
        check_range(construct, "retry.max_attempts", self.max_attempts, minimum=1, maximum=_INT32_MAX,
                    also=(limits.UNLIMITED_ATTEMPTS,))
        _no_zero_doublings(construct, "retry.max_doublings", self.max_doublings, limits.QUEUE_DEFAULT_MAX_DOUBLINGS,
                           "for a backoff that never grows, set min_backoff equal to max_backoff")
        check_range(construct, "retry.max_doublings", self.max_doublings, minimum=1, maximum=_INT32_MAX)
        for option in ("min_backoff", "max_backoff", "max_retry_duration"):
            check_duration(construct, f"retry.{option}", getattr(self, option), minimum=0, maximum=None,
                           whole_seconds=_TRUNCATED)
        _check_ordered(construct, "retry.min_backoff", self.min_backoff, "retry.max_backoff", self.max_backoff)

    def terraform(self) -> dict[str, object] | None:
        return _set_fields(self)


@dataclass(frozen=True)
class RateLimits:
    """How fast Cloud Tasks dispatches: the guard against a runaway producer.

    Defaults are deliberately low (Cloud Tasks' own are 500/s and 1000 at once): a bug
    that enqueues in a loop starts at most 1 call a second, 10 at a time. For a
    QueueWorker's job tasks a dispatch is one `jobs:run` call, done as soon as the
    execution has started: these limits bound how fast executions start, not how many
    run at once (synth warns when the rate times the timeout could pass Cloud Run's
    limit on running executions per region; the default rate with QueueWorker's default
    timeout, 1/s for 600 s, stays below it).
    """

    max_dispatches_per_second: float = 1  # up to 500
    max_concurrent_dispatches: int = 10  # up to 5000

    def check(self, construct: str) -> None:
        check_range(construct, "rate_limits.max_dispatches_per_second", self.max_dispatches_per_second,
                    minimum=0, maximum=limits.MAX_DISPATCHES_PER_SECOND, integer=False, above_minimum=True)
        check_range(construct, "rate_limits.max_concurrent_dispatches", self.max_concurrent_dispatches,
                    minimum=1, maximum=limits.MAX_CONCURRENT_DISPATCHES)

    def terraform(self) -> dict[str, object]:
        return {
            "max_dispatches_per_second": self.max_dispatches_per_second,
            "max_concurrent_dispatches": self.max_concurrent_dispatches,
        }


@dataclass(frozen=True)
class SchedulerRetry:
    """How Cloud Scheduler retries a failed run call. None leaves Google's default
    (0 retries; backoff 5s to 3600s doubling 5 times; no limit on the duration)."""

    retry_count: int | None = None  # 0-5
    # The rest have no documented bounds beyond being durations / int32.
    min_backoff_duration: str | None = None
    max_backoff_duration: str | None = None
    max_doublings: int | None = None  # at least 1 (for a constant backoff, set min = max backoff)
    max_retry_duration: str | None = None  # "0s" means unlimited

    def check(self, construct: str) -> None:
        check_range(construct, "retry.retry_count", self.retry_count, minimum=0, maximum=limits.SCHEDULER_MAX_RETRY_COUNT)
        _no_zero_doublings(construct, "retry.max_doublings", self.max_doublings, limits.SCHEDULER_DEFAULT_MAX_DOUBLINGS,
                           "for a backoff that never grows, set min_backoff_duration equal to max_backoff_duration")
        check_range(construct, "retry.max_doublings", self.max_doublings, minimum=1, maximum=_INT32_MAX)
        for option in ("min_backoff_duration", "max_backoff_duration", "max_retry_duration"):
            check_duration(construct, f"retry.{option}", getattr(self, option), minimum=0, maximum=None)
        _check_ordered(construct, "retry.min_backoff_duration", self.min_backoff_duration,
                       "retry.max_backoff_duration", self.max_backoff_duration)

    def terraform(self) -> dict[str, object] | None:
        return _set_fields(self)


def _set_fields(options: RetryPolicy | SchedulerRetry) -> dict[str, object] | None:
    """The fields given a value (field names are the provider's), or None for none:
    unset fields are left to Google's defaults."""
    return {k: v for k, v in asdict(options).items() if v is not None} or None


def _check_ordered(construct: str, low_name: str, low: str | None, high_name: str, high: str | None) -> None:
    if low is None or high is None or is_unresolved(low) or is_unresolved(high):
        return
    if parse_duration(construct, low_name, low) > parse_duration(construct, high_name, high):
        raise ConstructValidationError(construct, low_name, low, f"at most {high_name} ({high!r})")

"""A queue's retry policy as the run side reads it: Cloud Tasks' defaults and rules.

The stack passes each queue's RetryConfig as declared; these tests pin how it is
understood: the defaults for what is left out, the backoff schedule Google documents,
and that retries stop only when every limit the queue sets is reached.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cloudtasks.config.retry import TASK_RETENTION, InvalidRetry, RetryPolicy, read_retry

seconds = lambda n: timedelta(seconds=n)  # noqa: E731

# The app stack's queues (stacks/app_stack.py).
DEFAULT_QUEUE = read_retry({"max_attempts": 5, "min_backoff": "10s", "max_backoff": "600s", "max_retry_duration": "600s"})
LONG_QUEUE = read_retry({"max_attempts": 3, "min_backoff": "60s", "max_backoff": "900s"})


def attempts_made(policy: RetryPolicy) -> list[timedelta]:
    """When Cloud Tasks starts each attempt of a task that always fails at once."""
    starts = [timedelta(0)]
    while not policy.gives_up(len(starts), starts[-1]):
        starts.append(starts[-1] + policy.delay_before_retry(len(starts)))
    return starts


def test_fields_left_out_take_cloud_tasks_defaults():
    assert read_retry({}) == RetryPolicy(
        max_attempts=100, min_backoff=seconds(0.1), max_backoff=seconds(3600), max_doublings=16,
        max_retry_duration=timedelta(0),
    )


def test_declared_fields_override_only_themselves():
    policy = read_retry({"max_attempts": 5, "max_retry_duration": "600s"})

    assert (policy.max_attempts, policy.max_retry_duration) == (5, seconds(600))
    assert (policy.min_backoff, policy.max_backoff, policy.max_doublings) == (seconds(0.1), seconds(3600), 16)


def test_backoff_doubles_then_grows_linearly_then_stays_at_max_as_google_documents():
    # RetryConfig.max_doublings: "10s, 20s, 40s, 80s, 160s, 240s, 300s, 300s, ..."
    policy = read_retry({"min_backoff": "10s", "max_backoff": "300s", "max_doublings": 3})

    assert [policy.delay_before_retry(n).total_seconds() for n in range(1, 9)] == [
        10, 20, 40, 80, 160, 240, 300, 300
    ]


def test_with_only_an_attempt_limit_retries_stop_after_that_many_attempts():
    assert len(attempts_made(LONG_QUEUE)) == 3
    assert attempts_made(LONG_QUEUE)[-1] == seconds(180)


def test_retries_stop_only_when_both_attempts_and_duration_are_reached():
    # Five attempts take 150 s, short of 600 s: Cloud Tasks keeps going.
    assert not DEFAULT_QUEUE.gives_up(5, seconds(150))
    made = attempts_made(DEFAULT_QUEUE)

    assert len(made) == 7  # what "5 attempts within 600 s" allows
    assert made[-1] == seconds(630)


def test_with_only_a_duration_retries_stop_once_it_has_passed():
    policy = read_retry({"max_attempts": -1, "max_retry_duration": "60s", "min_backoff": "10s", "max_doublings": 0})

    assert not policy.gives_up(100, seconds(59))
    assert policy.gives_up(1, seconds(60))


def test_with_no_limit_retries_stop_at_the_task_retention_limit():
    policy = read_retry({"max_attempts": -1, "max_retry_duration": "0s"})

    assert not policy.gives_up(10_000, TASK_RETENTION - seconds(1))
    assert policy.gives_up(10_000, TASK_RETENTION)
    assert policy.retry_window() == TASK_RETENTION


def test_retry_window_is_when_the_last_attempt_starts():
    assert DEFAULT_QUEUE.retry_window() == seconds(630)
    assert LONG_QUEUE.retry_window() == seconds(180)


def test_retry_window_counts_the_time_attempts_take():
    # Each attempt takes a minute: they start at 0 s, 120 s (60 s run, 60 s backoff) and 300 s.
    assert LONG_QUEUE.retry_window(attempt_duration=seconds(60)) == seconds(300)


def test_retry_window_with_zero_backoff_is_the_retry_duration():
    policy = read_retry({"max_attempts": -1, "min_backoff": "0s", "max_backoff": "0s", "max_retry_duration": "60s"})

    assert policy.retry_window() == seconds(60)


@pytest.mark.parametrize(("declared", "field", "message"), [
    ({"max_attempts": True}, "max_attempts", "it must be a whole number, 1 or more, or -1 for no limit"),
    ({"max_doublings": -1}, "max_doublings", "it must be a whole number, 0 or more"),
    ({"max_backoff": 600}, "max_backoff", 'it must be a duration in seconds like "600s"'),
    ({"min_attempts": 1}, "min_attempts", "is not a retry setting"),
])
def test_a_wrong_field_is_named_with_what_is_allowed(declared, field, message):
    with pytest.raises(InvalidRetry) as refused:
        read_retry(declared)

    assert message in refused.value.problems[field]

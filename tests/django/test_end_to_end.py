"""Enqueue through django.tasks, the emulator pushes over HTTP, the handler runs the task.

Configured by config.settings as for a local run (the emulator, DEBUG on, the local
signing key): the enqueue path adds a token bound to the task, the emulator pushes it
with the task, and the handler verifies it.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.django.live import wait_for
from tests.django.taskapp import tasks


def test_enqueued_task_runs_on_the_web_service(local_run):
    tasks.record.enqueue("now")

    wait_for(lambda: tasks.calls)
    assert tasks.calls == [("record", "now")]


def test_deferred_task_runs_no_earlier_than_its_run_after(local_run):
    run_after = timezone.now() + timedelta(seconds=1.5)

    tasks.record.using(run_after=run_after).enqueue("later")

    wait_for(lambda: "later" in tasks.ran_at)
    assert tasks.ran_at["later"] >= run_after


def test_task_that_fails_twice_succeeds_on_its_third_attempt(local_run):
    tasks.succeed_on_third_attempt.enqueue(key="flaky")

    wait_for(lambda: ("flaky", 3) in tasks.calls)
    assert tasks.calls == [("flaky", 1), ("flaky", 2), ("flaky", 3)]


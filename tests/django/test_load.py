"""1,000 tasks through the emulator and the push handler, bounded in time: none lost, none
run twice. Enqueued on two queues (the emulator pushes each queue's tasks one at a time),
run by a live server, on PostgreSQL. The rate is printed (`-s` shows it); the bound is
generous: a rate is measured by benchmarks/latency.py, not asserted here.
"""

from __future__ import annotations

import time
from collections import Counter

from django.tasks import TaskResultStatus

from cloudtasks.models import TaskRecord
from tests.django.live import wait_for
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect

TASKS = 1000
BOUND_SECONDS = 180


def test_a_thousand_tasks_none_lost_none_duplicated(local_run):
    started = time.monotonic()
    for n in range(TASKS):
        tasks.insert_effect.using(queue_name="long" if n % 2 else "default").enqueue(f"load {n}")
    enqueued = time.monotonic()

    wait_for(
        lambda: TaskRecord.objects.filter(status=TaskResultStatus.SUCCESSFUL).count() == TASKS,
        f"{TASKS} tasks", seconds=BOUND_SECONDS,
    )
    done = time.monotonic()

    ran = Counter(Effect.objects.values_list("label", flat=True))
    lost = TASKS - len(ran)
    duplicated = sum(count - 1 for count in ran.values())
    print(f"\n{TASKS} tasks: enqueued in {enqueued - started:.1f} s ({TASKS / (enqueued - started):.0f}/s), "
          f"all run {done - started:.1f} s after the first enqueue ({TASKS / (done - started):.0f} tasks/s); "
          f"lost {lost}, duplicated {duplicated}")
    assert (lost, duplicated) == (0, 0)
    assert all(len(attempts) == 1 for attempts in TaskRecord.objects.values_list("attempts", flat=True))

"""What the soak (benchmarks/soak.py) counts at the end, from the database and the logs,
and what counts as lost or duplicated.

Imported once Django is set up (benchmarks/soak_system.py).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count
from django.tasks import TaskResultStatus

from cloudtasks.models import TaskRecord
from soak_load import JOB_BACKEND, Load
from tests.django.taskapp.models import Effect
from tests.django.taskapp.tasks import soak_write

DESIGNED_TO_FAIL_FOR_GOOD = ("always", "permanent")
WORKER_LOST = "WorkerLost"
# What the processes' log says (cloudtasks.operations.flush's line; run_task's duplicate execution).
FLUSH_LINE = re.compile(r"Outbox flush sent=(\d+) unsent=(\d+) resent=(\d+) waiting=(\d+) given_up=(\d+)")
NOTHING_DUE = "nothing due on queue"


@dataclass
class Counts:
    tasks: int = 0  # records of the soak's task: enqueued by the load, by faults, by tasks
    job_tasks: int = 0
    children: int = 0
    status: Counter[str] = field(default_factory=Counter)
    designed_to_fail: int = 0
    failed_not_designed: list[str] = field(default_factory=list)
    designed_but_succeeded: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # still READY or RUNNING
    missing_effects: list[str] = field(default_factory=list)  # SUCCESSFUL, without its write
    duplicated_effects: list[str] = field(default_factory=list)  # a write kept more than once
    recorded_twice: list[str] = field(default_factory=list)  # two task records of one key (a child enqueued twice)
    effects_of_failed: list[str] = field(default_factory=list)  # FAILED, its write kept
    effects_without_task: list[str] = field(default_factory=list)
    children_missing: list[str] = field(default_factory=list)  # of SUCCESSFUL parents
    children_of_failed: list[str] = field(default_factory=list)
    deferred: int = 0
    started_early: list[str] = field(default_factory=list)  # before their run_after
    enqueued_without_record: list[str] = field(default_factory=list)  # enqueue returned: the task is lost
    refused_but_committed: int = 0
    attempts: int = 0
    retries: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # attempts' errors, by exception class
    victims: dict[str, list[str]] = field(default_factory=dict)  # label: each attempt's error or "ok"
    executions: int = 0  # job executions started (jobs:run calls, schedules)
    executions_nothing_due: int = 0
    flush_runs: int = 0
    flush_totals: Counter[str] = field(default_factory=Counter)

    def problems(self) -> list[str]:
        """What the soak must not find; empty when nothing was lost or duplicated."""
        found = {
            "lost (still READY or RUNNING)": self.lost,
            "enqueued (enqueue returned) without a record": self.enqueued_without_record,
            "SUCCESSFUL without their write": self.missing_effects,
            "writes kept more than once": self.duplicated_effects,
            "tasks recorded more than once": self.recorded_twice,
            "FAILED with their write kept": self.effects_of_failed,
            "writes of no task": self.effects_without_task,
            "FAILED though not designed to fail for good": self.failed_not_designed,
            "SUCCESSFUL though designed to fail for good": self.designed_but_succeeded,
            "children missing of successful tasks": self.children_missing,
            "children of failed tasks": self.children_of_failed,
            "started before their run_after": self.started_early,
        }
        return [f"{len(labels)} {what}: {', '.join(sorted(labels)[:10])}" for what, labels in found.items() if labels]


def count(load: Load, processes_log: str, executions: int) -> Counts:
    """The counts, from the database, the load's own record and the processes' log
    (`executions`: how many job executions were started)."""
    counts = Counts(executions=executions)
    records = list(
        TaskRecord.objects.filter(task_path=soak_write.module_path).values_list(
            "backend", "status", "args", "kwargs", "attempts", "run_after", "started_at"
        )
    )
    writes = dict(Effect.objects.values_list("label").annotate(n=Count("id")).values_list("label", "n"))
    by_label = {}
    for backend, status, args, kwargs, attempts, run_after, started_at in records:
        label = args[0]
        by_label[label] = status
        counts.deferred += run_after is not None
        if run_after and started_at and started_at < run_after:
            counts.started_early.append(label)
        counts.tasks += 1
        counts.job_tasks += backend == JOB_BACKEND
        counts.children += label.endswith("-child")
        counts.status[status] += 1
        designed = kwargs.get("fail") in DESIGNED_TO_FAIL_FOR_GOOD
        counts.designed_to_fail += designed
        written = writes.get(label, 0)
        if status in (TaskResultStatus.READY, TaskResultStatus.RUNNING):
            counts.lost.append(label)
        elif status == TaskResultStatus.SUCCESSFUL:
            if designed:
                counts.designed_but_succeeded.append(label)
            if not written:
                counts.missing_effects.append(label)
        elif written:
            counts.effects_of_failed.append(label)
        if status == TaskResultStatus.FAILED and not designed:
            counts.failed_not_designed.append(label)
        if written > 1:
            counts.duplicated_effects.append(label)
        counts.attempts += len(attempts)
        counts.retries += max(len(attempts) - 1, 0)
        outcomes = [_error_class(attempt) or "ok" for attempt in attempts]
        counts.errors.update(outcome for outcome in outcomes if outcome != "ok")
        if label.startswith("victim-"):
            counts.victims[label] = outcomes
    for _, status, args, kwargs, *_ in records:
        label = args[0]
        if kwargs.get("child"):
            child = by_label.get(f"{label}-child")
            if status == TaskResultStatus.SUCCESSFUL and child is None:
                counts.children_missing.append(label)
            if status == TaskResultStatus.FAILED and child is not None:
                counts.children_of_failed.append(label)
    labels = Counter(args[0] for _, _, args, *_ in records)
    counts.recorded_twice = [label for label, n in labels.items() if n > 1]
    counts.effects_without_task = [label for label in writes if label not in by_label]
    counts.enqueued_without_record = [p.label for p in load.enqueued if p.label not in by_label]
    counts.refused_but_committed = sum(p.label in by_label for p in load.refused)
    lines = processes_log.splitlines()
    counts.executions_nothing_due = sum(NOTHING_DUE in line for line in lines)
    for match in FLUSH_LINE.finditer(processes_log):
        counts.flush_runs += 1
        counts.flush_totals.update(dict(zip(("sent", "unsent", "resent", "waiting", "given_up"), map(int, match.groups()))))
    return counts


def _error_class(attempt: dict) -> str | None:
    error = attempt.get("error")
    return error["exception_class_path"].rsplit(".", 1)[-1] if error else None

from datetime import datetime
from pathlib import Path

from django.tasks import TaskContext, task
from django.utils import timezone

# Declared in another app: here under a second name the runner must not accept.
from cloudtasks.tasks import heartbeat as alias_of_heartbeat  # noqa: F401

# What the tasks did, for tests that run them in this process (handler, live server).
calls: list[tuple[str, object]] = []
ran_at: dict[str, datetime] = {}


def forget() -> None:
    calls.clear()
    ran_at.clear()


@task
def record(label: str) -> str:
    calls.append(("record", label))
    ran_at[label] = timezone.now()
    return label


@task
def explode() -> None:
    calls.append(("explode", None))
    raise RuntimeError("task exploded")


@task(takes_context=True)
def succeed_on_third_attempt(context: TaskContext, key: str) -> None:
    calls.append((key, context.attempt))
    if context.attempt < 3:
        raise RuntimeError(f"attempt {context.attempt} fails")


@task
def write_file(path: str, text: str) -> None:
    """For runs in another process: the effect outlives it."""
    Path(path).write_text(text)


def not_a_task() -> None:
    """A plain function in a tasks module: not declared with @task, so never run."""
    calls.append(("not_a_task", None))

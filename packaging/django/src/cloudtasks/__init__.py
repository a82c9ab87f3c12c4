"""django.tasks on Google Cloud Tasks: the backend (cloudtasks.backend), its outbox and
flush, the push handler (cloudtasks.urls) and `run_task`, and task records; for local
runs `manage.py cloudtasks_emulator`, for tests cloudtasks.testing."""

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])


def non_atomic(function: F) -> F:
    """Run the task outside a transaction (put it below @task):

        @task
        @non_atomic
        def import_catalogue(path): ...   # commits as it goes

    A task runs inside one transaction by default, committed together with the record
    of its success, so that its database writes happen once however often it is
    delivered, and not at all if its worker dies. A task that must commit as it goes
    (long batch work, or work that calls code managing its own transactions) opts out;
    a re-run after a crash then repeats what it had committed, so it must be idempotent.
    """
    function._cloudtasks_non_atomic = True  # type: ignore[attr-defined]
    return function

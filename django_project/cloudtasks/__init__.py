"""django.tasks on Google Cloud Tasks: the backend (cloudtasks.backend), its outbox and
flush, the push handler (cloudtasks.urls) and `run_task`, and task records; for local
runs `manage.py cloudtasks_emulator`, for tests cloudtasks.testing."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def enqueue_together() -> Iterator[None]:
    """Enqueue many tasks in one transaction, and send them to Cloud Tasks at once:

        with enqueue_together():
            for user in users:
                send_newsletter.enqueue(user.pk)

    The block is a transaction (`transaction.atomic()`). The tasks enqueued in it are
    written together when it ends (one INSERT per 1,000), and once it commits they are
    sent concurrently, within the send budget; what is not sent is sent by the flush, as
    for any task (the outbox, cloudtasks.outbox). A block that raises enqueues nothing.
    Until the block ends, a task enqueued in it has no record: `get_result` finds it
    only afterwards.
    """
    from cloudtasks.outbox import together  # models load with the apps, after this package

    with together():
        yield

"""How long sending after commit may hold up the code that enqueued, and what it leaves
to the flush.

Within a web request, every send after commit shares one window, and so does everything
a job execution's task enqueues (`manage.py run_task`): however many tasks it enqueues,
it waits on Cloud Tasks at most the SEND_BUDGET option in all. The window closes to
sends once that is spent, or once a send failed (Cloud Tasks is down or refusing:
waiting on it again would only spend the rest). From then on a send does nothing but
note its task's id: no call, no UPDATE, no log line. When the window ends, one UPDATE
per LEFT_BATCH of those tasks makes them due for the next flush at once, and one log
line says how many tasks went out and how many were left. (Their rows were written due
only after outbox.SEND_CLAIM, so that the flush does not send again what the request is
sending; if the process dies before the window ends, or that UPDATE fails, the flush
sends them from then.)
Outside a request and a task's execution (a command, a shell) each send has the budget
to itself.

The request's window opens and closes with Django's request_started and
request_finished signals (connected in apps.py). It is kept in an asgiref Local, so
that under ASGI the window opened by the request's coroutine is the one its sync code,
run in another thread, sees.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.local import Local
from django.utils import timezone

from cloudtasks.models import TaskRecord

logger = logging.getLogger(__name__)

# Task ids per UPDATE: within SQLite's limit on parameters in a statement (999 before
# SQLite 3.32.0, 32,766 since; https://www.sqlite.org/limits.html#max_variable_number).
LEFT_BATCH = 500

_current = Local()


class Window:
    """The sends after commit of one request (or one task's execution)."""

    def __init__(self) -> None:
        self.spent = 0.0  # seconds of sending so far: the calls, and noting their failures
        self.sent = 0
        self.failed = 0
        self.failure = ""  # why a send failed; the window is closed to sends once one did
        self.left: list[str] = []  # the ids of tasks not tried, for the flush

    def time_left(self, budget: float) -> float:
        """Seconds the next send may take, out of `budget` for the whole window."""
        return 0.0 if self.failure else budget - self.spent

    @contextmanager
    def spending(self) -> Iterator[None]:
        """Count the time spent in the block against the window."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.spent += time.monotonic() - started

    def note_failure(self, reason: str) -> None:
        self.failed += 1
        self.failure = reason

    def hand_to_flush(self) -> None:
        """Make the tasks not tried due for the next flush, and say so once."""
        if not self.left:
            return
        now = timezone.now()
        for start in range(0, len(self.left), LEFT_BATCH):
            TaskRecord.objects.filter(pk__in=self.left[start:start + LEFT_BATCH], sent_at=None).update(check_after=now)
        enqueued = self.sent + self.failed + len(self.left)
        logger.warning(
            "%d of %d tasks sent after commit, %d left to the flush, which sends them next (%s)",
            self.sent, enqueued, enqueued - self.sent,
            f"a send failed: {self.failure}" if self.failure else "the send budget was spent",
        )


def current() -> Window | None:
    """The window of the current request or task execution; None outside both."""
    return getattr(_current, "window", None)


def open_window(**kwargs: Any) -> None:
    _current.window = Window()


def close_window(**kwargs: Any) -> None:
    window = current()
    _current.window = None
    if window is not None:
        window.hand_to_flush()


@contextmanager
def window() -> Iterator[None]:
    """One window for what the block enqueues, as a request has one."""
    open_window()
    try:
        yield
    finally:
        close_window()

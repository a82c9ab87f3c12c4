"""Stopping in time: a task still running when the process must stop gives its lease back.

Cloud Run sends SIGTERM, then SIGKILL 10 s later. On SIGTERM, a task that is running gets
until `grace` seconds after it: if it has not finished by then, `Interrupted` is raised
in it (through SIGALRM, in the main thread, where tasks run), its transaction rolls back,
and the runner gives its lease back (READY), so that the next delivery runs it at once
rather than after the lease. A task blocked where Python cannot interrupt it (inside a C
call that does not return) is killed with the process; its lease expires, and the next
delivery after that takes it over.

`on_sigterm` is installed by `run_task` (a job execution) and, for the web service, by
gunicorn's post_worker_init hook (config/gunicorn.py), chained to gunicorn's own handler.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

# Time kept to roll the task's transaction back and give its lease back before SIGKILL.
HAND_BACK_SECONDS = 1.5
# Cloud Run sends SIGKILL 10 s after SIGTERM.
DEFAULT_GRACE = 10.0 - HAND_BACK_SECONDS


class Interrupted(BaseException):
    """The process is stopping before the task finished. A BaseException, so that a
    task's own `except Exception` does not swallow it."""


_running = threading.Event()


def on_sigterm(grace: float = DEFAULT_GRACE, then: Callable[[int, FrameType | None], Any] | None = None) -> None:
    """On SIGTERM, call `then` (the handler there was, if any), and interrupt the running
    task `grace` seconds later."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if then is not None:
            then(signum, frame)
        signal.signal(signal.SIGALRM, _interrupt)
        signal.setitimer(signal.ITIMER_REAL, grace)

    signal.signal(signal.SIGTERM, handle)


@contextmanager
def interruptible() -> Iterator[None]:
    """The block is a task running: what `on_sigterm` interrupts. Only in the main
    thread, where signals arrive (a threaded test server's tasks are never interrupted)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _running.set()
    try:
        yield
    finally:
        _running.clear()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    if _running.is_set():
        raise Interrupted("the process is stopping: the task's lease is given back")

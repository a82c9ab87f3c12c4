"""Interrupting a running task: when the process must stop, and when its time limit passes.

Cloud Run sends SIGTERM, then SIGKILL 10 s later. On SIGTERM, a task that is running gets
until `grace` seconds after it: if it has not finished by then, `Interrupted` is raised
in it, its transaction rolls back, and the runner gives its lease back (READY), so that
the next delivery runs it at once rather than after the lease. A task blocked where
Python cannot interrupt it (inside a C call that does not return) is killed with the
process; its lease expires, and the next delivery after that takes it over.

A task with a time limit (`cloudtasks.limits`) that is still running when it passes has
TimeLimitExceeded raised in it: its transaction rolls back, and the runner records the
attempt as failed (retried as any failed attempt is, or failed for good on the last).

Both come through one timer, SIGALRM (ITIMER_REAL), set for whichever is due first, and
raise in the main thread, where signals arrive and where tasks run under gunicorn's sync
workers and `run_task`. A task run in another thread (a threaded development server's)
is never interrupted: neither its time limit nor a SIGTERM stops it.

`on_sigterm` is installed by `run_task` (a job execution) and, for the web service, by
gunicorn's post_worker_init hook (config/gunicorn.py), chained to gunicorn's own handler.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from cloudtasks.exceptions import TimeLimitExceeded

# Time kept to roll the task's transaction back and give its lease back before SIGKILL.
HAND_BACK_SECONDS = 1.5
# Cloud Run sends SIGKILL 10 s after SIGTERM.
DEFAULT_GRACE = 10.0 - HAND_BACK_SECONDS


class Interrupted(BaseException):
    """The process is stopping before the task finished. A BaseException, so that a
    task's own `except Exception` does not swallow it."""


class _Deadlines:
    """When (time.monotonic()) the running task is interrupted, and why: the main thread's only."""

    stopping_at: float | None = None  # SIGTERM's grace ends
    limit_at: float | None = None  # the running task's time limit passes
    limit: float = 0.0  # seconds, for the error


_running = threading.Event()


def on_sigterm(grace: float = DEFAULT_GRACE, then: Callable[[int, FrameType | None], Any] | None = None) -> None:
    """On SIGTERM, call `then` (the handler there was, if any), and interrupt the running
    task `grace` seconds later."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if then is not None:
            then(signum, frame)
        _Deadlines.stopping_at = time.monotonic() + grace
        _set_timer()

    signal.signal(signal.SIGTERM, handle)


@contextmanager
def interruptible(time_limit: float | None = None) -> Iterator[None]:
    """The block is a task running: what `on_sigterm` interrupts, and what TimeLimitExceeded
    interrupts after `time_limit` seconds. Only in the main thread (see the module's docstring)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if time_limit is not None:
        _Deadlines.limit, _Deadlines.limit_at = time_limit, time.monotonic() + time_limit
        _set_timer()
    _running.set()
    try:
        yield
    finally:
        _running.clear()
        if time_limit is not None:
            _Deadlines.limit_at = None
            _set_timer()  # what is left: SIGTERM's grace, if it runs


def _set_timer() -> None:
    """SIGALRM when the next deadline comes; none if none is ahead."""
    signal.signal(signal.SIGALRM, _interrupt)
    now = time.monotonic()
    ahead = [moment for moment in (_Deadlines.stopping_at, _Deadlines.limit_at) if moment is not None and moment > now]
    signal.setitimer(signal.ITIMER_REAL, min(ahead) - now if ahead else 0)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    now = time.monotonic()
    if _running.is_set():
        if _Deadlines.stopping_at is not None and now >= _Deadlines.stopping_at:
            raise Interrupted("the process is stopping: the task's lease is given back")
        if _Deadlines.limit_at is not None and now >= _Deadlines.limit_at:
            _Deadlines.limit_at = None
            raise TimeLimitExceeded(f"the attempt ran longer than the task's time limit, {_Deadlines.limit:g} s")
    _set_timer()  # a deadline still ahead

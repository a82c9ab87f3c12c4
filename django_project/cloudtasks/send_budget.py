"""How long sending after commit may hold up the code that enqueued.

Within a web request, every send after commit shares one budget (the SEND_BUDGET
option): however many tasks a request enqueues, it waits on Cloud Tasks at most that
long in all, and what is not sent by then stays pending for the flush. Outside a request
(a command, a job execution) each send gets the budget to itself.

The request's window opens and closes with Django's request_started and
request_finished signals (connected in apps.py). It is kept in an asgiref Local, so
that under ASGI the window opened by the request's coroutine is the one its sync code,
run in another thread, sees.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.local import Local

_request = Local()


class _Window:
    def __init__(self) -> None:
        self.spent = 0.0  # seconds this request has waited on Cloud Tasks so far


def open_window(**kwargs: Any) -> None:
    _request.window = _Window()


def close_window(**kwargs: Any) -> None:
    _request.window = None


def time_left(budget: float) -> float:
    """Seconds the next send may take: what is left of the request's budget, or the
    whole budget outside a request."""
    window = getattr(_request, "window", None)
    return budget if window is None else budget - window.spent


@contextmanager
def spending() -> Iterator[None]:
    """Count the time spent in the block against the current request's budget."""
    started = time.monotonic()
    try:
        yield
    finally:
        window = getattr(_request, "window", None)
        if window is not None:
            window.spent += time.monotonic() - started

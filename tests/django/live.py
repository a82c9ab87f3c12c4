"""Waiting for what a live server does in its own thread."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

WAIT_SECONDS = 15


def wait_for(condition: Callable[[], object], what: str = "", *, seconds: float = WAIT_SECONDS) -> None:
    """Return once `condition()` is true; fail the test if it is not within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            from tests.django.taskapp import tasks

            pytest.fail(f"not done within {seconds}s{': ' + what if what else ''}; tasks ran: {tasks.calls}")
        time.sleep(0.05)

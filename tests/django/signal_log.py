"""Receiving task signals in a test: each one sent, from any thread, while a block runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from django.dispatch import Signal
from django.tasks import TaskResult


@contextmanager
def receiving(signals: Mapping[str, Signal], note: Callable[[str, type, TaskResult], None]) -> Iterator[None]:
    """Within the block, `note(name, sender, task_result)` for each of `signals` (by name) sent."""
    receivers = {
        name: (lambda sender, task_result, _name=name, **kwargs: note(_name, sender, task_result)) for name in signals
    }
    for name, signal in signals.items():
        signal.connect(receivers[name], weak=False)
    try:
        yield
    finally:
        for name, signal in signals.items():
            signal.disconnect(receivers[name])

"""An app of the tests' own whose tasks the enqueue tests send (tasks.py); nothing runs
them. An app, because the backend enqueues only tasks declared in an installed app's
tasks module."""

from tests.django.enqueued_tasks.tasks import build_report, greet, rebuild_index

__all__ = ["build_report", "greet", "rebuild_index"]

"""Imported only by the check under test: declaring this task raises InvalidTask."""

from django.tasks import task


@task(queue_name="reports")
def nightly_report() -> None:
    raise AssertionError("a task on a queue no backend routes ran")

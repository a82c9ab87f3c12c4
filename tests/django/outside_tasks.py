"""A task declared outside an installed app's tasks module: the backend must refuse to
enqueue it, as the run side refuses to run it."""

from django.tasks import task


@task
def misplaced(note: str) -> None:
    raise AssertionError("a task declared outside a tasks module ran")

"""A module outside any app's tasks module: the runner must never import it."""

from django.tasks import task


@task
def declared_elsewhere() -> None:
    raise AssertionError("a task outside a tasks module ran")

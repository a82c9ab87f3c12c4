"""Tasks the enqueue tests send. Nothing runs them: enqueue tests look at what was sent."""

from django.tasks import task


@task
def greet(name: str, punctuation: str = "!") -> str:
    return f"Hello {name}{punctuation}"


@task(backend="jobs")
def rebuild_index(shard: int) -> None:
    """A long task: the "jobs" backend runs it as a Cloud Run job execution."""


@task(queue_name="long", backend="jobs")
def build_report(report_id: int) -> None:
    """Declared for the "long" queue: its Cloud Tasks queue retries and dispatches differently."""

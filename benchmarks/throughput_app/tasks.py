from django.tasks import task

from benchmarks.throughput_app.models import Write


@task
def noop() -> None:
    pass


@task
def one_write(n: int) -> None:
    Write.objects.create(n=n)

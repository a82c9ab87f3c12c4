"""A view for the tests: enqueues several tasks in one request, in one transaction."""

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from tests.django.taskapp.tasks import record


@transaction.atomic
def enqueue_several(request: HttpRequest, count: int) -> HttpResponse:
    for index in range(count):
        record.enqueue(f"task {index}")
    return HttpResponse(f"enqueued {count}")

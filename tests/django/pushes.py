"""Pushing to the handler the way Cloud Tasks does, for the handler's tests."""

from __future__ import annotations

from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from cloudtasks.payload import TaskPayload
from tests.django.backend_settings import HANDLER_URL, INVOKER

__all__ = ["AUDIENCE", "INVOKER", "payload", "push"]

AUDIENCE = HANDLER_URL  # what tokens carry unless CLOUD_TASKS_OIDC_AUDIENCE says otherwise
TASKS = "tests.django.taskapp.tasks"


def payload(task: str, *args: object, task_id: str = "task-1", **kwargs: object) -> bytes:
    return TaskPayload(f"{TASKS}.{task}", task_id, list(args), kwargs).encode()


def push(
    client: Client,
    body: bytes,
    *,
    token: str | None,
    retry_count: int = 0,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """POST `body` as Cloud Tasks would, with `token` as the bearer token if given."""
    sent = {"X-CloudTasks-TaskName": "queue-task-1", "X-CloudTasks-TaskRetryCount": str(retry_count)}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    return client.post(reverse("cloudtasks:run"), body, content_type="application/json", headers=sent)

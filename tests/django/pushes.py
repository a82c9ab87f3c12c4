"""Pushing to the handler the way Cloud Tasks does, for the handler's tests."""

from __future__ import annotations

from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from cloudtasks.auth.local_signing import LOCAL_ISSUER, LocalSigner
from cloudtasks.wire.payload import TaskPayload
from tests.django.backend_settings import HANDLER_URL, INVOKER

__all__ = ["AUDIENCE", "INVOKER", "SIGNER", "google_like_auth", "payload", "push"]

AUDIENCE = HANDLER_URL  # what tokens carry unless CLOUD_TASKS_OIDC_AUDIENCE says otherwise
TASKS = "tests.django.taskapp.tasks"
# Stands in for Google: its keys are published at a JWKS URL (`google_like_auth`).
SIGNER = LocalSigner()


def google_like_auth(jwks_url: str) -> dict[str, object]:
    """CLOUD_TASKS_AUTH that trusts SIGNER's tokens as production trusts Google's: keys
    fetched from `jwks_url` (where SIGNER's are published), no binding to a task."""
    return {"AUDIENCE": AUDIENCE, "INVOKER_EMAILS": [INVOKER], "ISSUERS": [LOCAL_ISSUER], "JWKS_URL": jwks_url}


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

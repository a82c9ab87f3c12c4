"""The push handler Cloud Tasks calls, and the health endpoint Cloud Run probes.

What the handler answers decides what Cloud Tasks does next: 2xx deletes the task,
anything else retries it by the queue's retry policy.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.tasks import TaskResultStatus
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from cloudtasks import auth, runner
from cloudtasks.payload import PayloadError, TaskPayload, decode

logger = logging.getLogger(__name__)


@csrf_exempt  # authenticated by the OIDC token, not by a session
@require_POST
def run_task(request: HttpRequest) -> HttpResponse:
    try:
        auth.configured_verifier().verify(request.headers.get("Authorization"))
    except auth.InvalidToken as error:
        logger.warning("Refused task push, invalid token: %s", error)
        return HttpResponse(status=401, headers={"WWW-Authenticate": "Bearer"})
    except auth.WrongIdentity as error:
        logger.warning("Refused task push, wrong caller: %s", error)
        return HttpResponse(status=403)
    except auth.KeysUnavailable as error:
        logger.error("Cannot verify task push, signing keys unavailable: %s", error)
        return HttpResponse(status=503)

    # Only now, with the caller known to be the invoker, is the body read.
    payload: TaskPayload | None = None
    try:
        payload = decode(request.body)
        result = runner.run(payload, attempt=_attempt(request))
    except PayloadError as error:
        # Retrying cannot help; acknowledge so the queue stops redelivering it.
        logger.error(
            "Discarding task %s (Cloud Tasks task %s), it can never run: %s",
            payload.task_id if payload else "with unreadable payload",
            request.headers.get("X-CloudTasks-TaskName", "unnamed"),
            error,
        )
        return JsonResponse({"status": "DISCARDED", "error": str(error)})
    succeeded = result.status == TaskResultStatus.SUCCESSFUL
    return JsonResponse({"id": result.id, "status": result.status}, status=200 if succeeded else 500)


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    # Says the process serves requests; deliberately touches nothing it depends on.
    return HttpResponse("ok", content_type="text/plain")


def _attempt(request: HttpRequest) -> int:
    # Cloud Tasks counts retries from 0; django.tasks counts attempts from 1.
    retries = request.headers.get("X-CloudTasks-TaskRetryCount", "0")
    return int(retries) + 1 if retries.isdigit() else 1

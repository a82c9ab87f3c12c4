"""The push handler Cloud Tasks calls, and the health endpoint Cloud Run probes.

What the handler answers decides what Cloud Tasks does next: 2xx deletes the task,
anything else retries it by the queue's retry policy. So:

    200  the task ran and succeeded; it had finished before (a duplicate delivery: it
         did not run again); it failed for good (its last attempt, PermanentFailure, a
         return value that is not JSON); or it can never run ("DISCARDED": a payload
         that is malformed, too large, of another version, names no task, or holds what
         a task's record cannot store (cloudtasks.wire.payload); recorded FAILED if the task
         has a record); or its queue routes it to a Cloud Run job ("REFUSED": someone
         made an HTTP task of a job task's payload): it runs only in its job's
         execution, so it is not run here and its record is left as it is
    409  another worker runs it now, under its lease: try again later
    500  the attempt failed, and the queue has attempts left
    503  the process is stopping: the task's lease was given back, try again; or the
         signing keys cannot be fetched, so no token can be judged
    401  no token, or not one Google signed for us; 403 a token of someone else
"""

from __future__ import annotations

import logging
import re

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from cloudtasks import logs
from cloudtasks.auth import verify
from cloudtasks.run import runner
from cloudtasks.run.runner import Outcome
from cloudtasks.wire.payload import PayloadError, TaskPayload, decode

logger = logging.getLogger(__name__)

STATUS_CODE = {
    Outcome.SUCCEEDED: 200, Outcome.DUPLICATE: 200, Outcome.FAILED: 200,
    Outcome.BUSY: 409, Outcome.LEASE_LOST: 409, Outcome.RETRY: 500, Outcome.INTERRUPTED: 503,
}
RETRY_COUNT = re.compile(r"[0-9]{1,9}")


@csrf_exempt  # authenticated by the OIDC token, not by a session
@require_POST
@logs.labelled
def run_task(request: HttpRequest) -> HttpResponse:
    try:
        verify.verify_push(request)
    except verify.InvalidToken as error:
        logger.warning("Refused task push, invalid token: %s", error)
        return HttpResponse(status=401, headers={"WWW-Authenticate": "Bearer"})
    except verify.WrongIdentity as error:
        logger.warning("Refused task push, wrong caller: %s", error)
        return HttpResponse(status=403)
    except verify.KeysUnavailable as error:
        logger.error("Cannot verify task push, signing keys unavailable: %s", error)
        return HttpResponse(status=503)

    # Only now, with the caller known to be the invoker, is the body read.
    payload: TaskPayload | None = None
    try:
        payload = decode(_body(request))
        delivery = runner.Delivery.push(_retry_count(request))
        logs.attempt(payload.task_id, payload.queue_name, delivery.attempt)
        ran = runner.run(payload, delivery)
    except PayloadError as error:
        # Retrying cannot help; acknowledge so the queue stops redelivering it. The id
        # was checked on decode; the header was not, so it is logged escaped (repr).
        logger.error(
            "Discarding task %s (Cloud Tasks task %r), it can never run: %s",
            payload.task_id if payload else "with unreadable payload",
            request.headers.get("X-CloudTasks-TaskName", "unnamed"),
            error,
        )
        return JsonResponse({"status": "DISCARDED", "error": str(error)})
    except runner.RoutedToAJob as refused:
        logger.warning("Refused task push, not run here: %s", refused)
        return JsonResponse({"id": payload.task_id, "status": "REFUSED", "error": str(refused)})
    if ran.outcome in (Outcome.BUSY, Outcome.LEASE_LOST):
        logger.info("Task %s not run now: %s", ran.task_id, ran.reason)
    elif ran.outcome == Outcome.DUPLICATE:
        logger.info("Task %s had already finished (%s): not run again", ran.task_id, ran.result.status)
    answer = {"id": ran.task_id, "status": ran.result.status if ran.result else "RUNNING", "outcome": ran.outcome.value}
    if ran.outcome == Outcome.RETRY:
        answer["status"] = "FAILED"  # this attempt's
    return JsonResponse(answer, status=STATUS_CODE[ran.outcome])


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    # Says the process serves requests; deliberately touches nothing it depends on.
    return HttpResponse("ok", content_type="text/plain")


def _body(request: HttpRequest) -> bytes:
    try:
        return request.body
    except RequestDataTooBig as error:
        # Larger than any task Cloud Tasks takes (1 MB): nothing to run, ever.
        raise PayloadError(f"payload is larger than {_limit()} bytes") from error


def _limit() -> int:
    from django.conf import settings

    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _retry_count(request: HttpRequest) -> int:
    # Cloud Tasks counts retries from 0. Anything else in the header counts as the first.
    retries = request.META.get("HTTP_X_CLOUDTASKS_TASKRETRYCOUNT", "0")  # request.headers would build them all
    return int(retries) if RETRY_COUNT.fullmatch(retries) else 0

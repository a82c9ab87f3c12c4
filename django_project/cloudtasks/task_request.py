"""The CreateTask request for one task: what reaches Google, built in one place.

The task is named after its id, so that sending the same task again (a retried call,
or a future outbox re-sending after a crash) cannot create a second copy: Cloud Tasks
answers ALREADY_EXISTS instead. Ids are random, which is what Cloud Tasks asks of
task names (sequential names slow CreateTask down).
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.tasks import TaskResult
from google.cloud import tasks_v2

from cloudtasks.options import HttpTarget, JobTarget, QueueRoute
from cloudtasks.payload import TaskPayload

RUN_API = "https://run.googleapis.com/v2"
# jobs:run is a Google API call, which takes an OAuth access token with this scope.
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JSON_HEADERS = {"Content-Type": "application/json"}


def task_name(queue_path: str, task_id: str) -> str:
    return f"{queue_path}/tasks/{task_id}"


def build_request(route: QueueRoute, result: TaskResult) -> tasks_v2.CreateTaskRequest:
    """CreateTask for `result`'s task on the queue `route` describes."""
    task = tasks_v2.Task(
        name=task_name(route.queue_path, result.id),
        http_request=_http_request(route.target, _payload(result).encode()),
        # Unset means "now"; Cloud Tasks keeps microseconds, as datetime does.
        schedule_time=result.task.run_after,
        dispatch_deadline=_dispatch_deadline(route.target),
    )
    return tasks_v2.CreateTaskRequest(parent=route.queue_path, task=task)


def _payload(result: TaskResult) -> TaskPayload:
    """Everything the run side needs to rebuild the task exactly as it was enqueued."""
    return TaskPayload(
        task_path=result.task.module_path,
        task_id=result.id,
        args=result.args,
        kwargs=result.kwargs,
        enqueued_at=result.enqueued_at,
        backend=result.backend,
        queue_name=result.task.queue_name,
        priority=result.task.priority,
        run_after=result.task.run_after,
    )


def _http_request(target: HttpTarget | JobTarget, payload: bytes) -> tasks_v2.HttpRequest:
    match target:
        case HttpTarget():
            return tasks_v2.HttpRequest(
                url=target.url,
                http_method=tasks_v2.HttpMethod.POST,
                headers=JSON_HEADERS,
                body=payload,
                oidc_token=tasks_v2.OidcToken(
                    service_account_email=target.service_account_email,
                    audience=target.audience,
                ),
            )
        case JobTarget():
            return tasks_v2.HttpRequest(
                url=f"{RUN_API}/{target.job_path}:run",
                http_method=tasks_v2.HttpMethod.POST,
                headers=JSON_HEADERS,
                body=_run_job_body(payload),
                oauth_token=tasks_v2.OAuthToken(
                    service_account_email=target.service_account_email,
                    scope=CLOUD_PLATFORM_SCOPE,
                ),
            )


def _dispatch_deadline(target: HttpTarget | JobTarget) -> timedelta | None:
    # Set on every HTTP task, so that what the web service's timeouts are sized for is
    # what Cloud Tasks waits, whatever its default. A job task is done once jobs:run
    # answers, in seconds: Cloud Tasks' default is ample.
    if isinstance(target, HttpTarget):
        return timedelta(seconds=target.dispatch_deadline)
    return None


def _run_job_body(payload: bytes) -> bytes:
    """A RunJobRequest whose overrides hand the payload to `manage.py run_task`.

    The job's container runs `python manage.py run_task`; override args replace the
    container's args, so the execution runs `run_task --payload <payload>`. One task:
    a job whose own task count is higher would otherwise run the task that many times.
    """
    container = {"args": ["--payload", payload.decode()]}
    return json.dumps({"overrides": {"containerOverrides": [container], "taskCount": 1}}).encode()

"""The CreateTask request for one task: what reaches Google, built in one place.

The task is named after its id, so that sending the same task again (a retried call,
or a future outbox re-sending after a crash) cannot create a second copy: Cloud Tasks
answers ALREADY_EXISTS instead. Ids are random, which is what Cloud Tasks asks of
task names (sequential names slow CreateTask down).
"""

from __future__ import annotations

import json

from django.tasks import TaskResult
from google.cloud import tasks_v2

from cloudtasks.options import BackendOptions, HttpTarget, JobTarget
from cloudtasks.payload import TaskPayload

RUN_API = "https://run.googleapis.com/v2"
# jobs:run is a Google API call, which takes an OAuth access token with this scope.
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JSON_HEADERS = {"Content-Type": "application/json"}


def task_name(queue_path: str, task_id: str) -> str:
    return f"{queue_path}/tasks/{task_id}"


def build_request(options: BackendOptions, result: TaskResult) -> tasks_v2.CreateTaskRequest:
    payload = TaskPayload(
        task_path=result.task.module_path,
        task_id=result.id,
        args=result.args,
        kwargs=result.kwargs,
        enqueued_at=result.enqueued_at,
    ).encode()
    task = tasks_v2.Task(
        name=task_name(options.queue_path, result.id),
        http_request=_http_request(options.target, payload),
        # Unset means "now"; Cloud Tasks keeps microseconds, as datetime does.
        schedule_time=result.task.run_after,
    )
    return tasks_v2.CreateTaskRequest(parent=options.queue_path, task=task)


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


def _run_job_body(payload: bytes) -> bytes:
    """A RunJobRequest whose overrides hand the payload to `manage.py run_task`.

    The job's container runs `python manage.py run_task`; override args replace the
    container's args, so the execution runs `run_task --payload <payload>`. One task:
    a job whose own task count is higher would otherwise run the task that many times.
    """
    container = {"args": ["--payload", payload.decode()]}
    return json.dumps({"overrides": {"containerOverrides": [container], "taskCount": 1}}).encode()

"""The local jobs:run: a call this system vouched for starts an execution of the job's
command with the task's args, retried as Cloud Run retries it; any other call starts nothing."""

from __future__ import annotations

import io
import json
import sys
from http import HTTPStatus

import pytest
from google.cloud import tasks_v2

from cloudtasks.local_auth import TASK_NAME_HEADER, LocalSigner, vouch
from local_run.jobs import Job, Jobs
from local_run.processes import Supervisor

JOB_PATH = "projects/local/locations/local/jobs/djapp-default"
INVOKER = "djapp-default-invoker@local-run.invalid"
# Fails until Cloud Run's attempt counter (retries so far) reaches the number it is given.
FLAKY = [sys.executable, "-c", "import os, sys; print('attempt', os.environ['CLOUD_RUN_TASK_ATTEMPT']); "
         "sys.exit(0 if os.environ['CLOUD_RUN_TASK_ATTEMPT'] == sys.argv[1] else 1)"]


@pytest.fixture
def signer() -> LocalSigner:
    return LocalSigner()


def jobs_for(signer: LocalSigner, out: io.StringIO, max_retries: int = 3) -> Jobs:
    return Jobs([Job(JOB_PATH, INVOKER, FLAKY, max_retries)], signer=signer, supervisor=Supervisor(out),
                env={"PATH": "/usr/bin:/bin"}, cwd=None)


def job_task(args: list[str]) -> tasks_v2.CreateTaskRequest:
    """A job-target task as cloudtasks.task_request builds it."""
    queue = "projects/local/locations/local/queues/djapp-default"
    body = json.dumps({"overrides": {"containerOverrides": [{"args": args}]}}).encode()
    return tasks_v2.CreateTaskRequest(parent=queue, task=tasks_v2.Task(
        name=f"{queue}/tasks/t1",
        http_request=tasks_v2.HttpRequest(
            url=f"https://run.googleapis.com/v2/{JOB_PATH}:run", body=body,
            oauth_token=tasks_v2.OAuthToken(service_account_email=INVOKER),
        ),
    ))


def pushed(request: tasks_v2.CreateTaskRequest) -> tuple[str, dict[str, str], bytes]:
    """The jobs:run call the emulator makes for `request`'s task, as it arrives locally."""
    http = request.task.http_request
    return f"/v2/{JOB_PATH}:run", {**http.headers, TASK_NAME_HEADER: "t1"}, http.body


def test_a_vouched_job_task_runs_the_command_with_its_args_retried_as_cloud_run_does(signer):
    out = io.StringIO()
    jobs = jobs_for(signer, out)

    status, _ = jobs.accept(*pushed(vouch(job_task(["2"]), signer)))
    jobs.executions[-1].join(timeout=30)

    assert status == HTTPStatus.OK
    said = out.getvalue().splitlines()
    assert [line for line in said if "attempt" in line] == [
        f"job djapp-default | attempt {n}" for n in ("0", "1", "2")
    ]
    assert said.count("job djapp-default | exited with status 1; retrying") == 2


def test_an_execution_gives_up_after_the_jobs_max_retries(signer):
    out = io.StringIO()
    jobs = jobs_for(signer, out, max_retries=1)

    jobs.accept(*pushed(vouch(job_task(["9"]), signer)))
    jobs.executions[-1].join(timeout=30)

    assert out.getvalue().splitlines()[-1] == "job djapp-default | exited with status 1; failed, no retries left"


REFUSED = {
    "no token": lambda signer, request: request,
    "another key": lambda signer, request: vouch(request, LocalSigner()),
    "another task's token": lambda signer, request: _with_headers_of(vouch(job_task(["other"]), signer), request),
}


def _with_headers_of(source: tasks_v2.CreateTaskRequest, request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
    request.task.http_request.headers["Authorization"] = source.task.http_request.headers["Authorization"]
    return request


@pytest.mark.parametrize("forge", REFUSED.values(), ids=REFUSED.keys())
def test_a_call_this_system_did_not_vouch_for_starts_nothing(signer, forge):
    out = io.StringIO()
    jobs = jobs_for(signer, out)

    status, message = jobs.accept(*pushed(forge(signer, job_task(["0"]))))

    assert status == HTTPStatus.UNAUTHORIZED, message
    assert jobs.executions == []

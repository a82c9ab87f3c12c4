"""The local jobs:run: a call this system vouched for starts an execution of the job as it
is defined (its command and its own args), retried as Cloud Run retries it; a call with
overrides is refused as Cloud Run refuses it to an invoker without runWithOverrides; any
other call starts nothing."""

from __future__ import annotations

import io
import json
import re
import sys
from http import HTTPStatus

import pytest
from google.cloud import tasks_v2

from cloudtasks.auth.local_signing import TASK_NAME_HEADER, LocalSigner, vouch
from local_run.jobs import Job, Jobs
from local_run.processes import Supervisor

JOB_PATH = "projects/local/locations/local/jobs/djapp-default"
INVOKER = "djapp-default-invoker@local-run.invalid"
# Says what Cloud Run sets, and fails until its attempt counter (retries so far) reaches
# the number the job's own args give.
FLAKY = [sys.executable, "-c", "import os, sys; print('attempt', os.environ['CLOUD_RUN_TASK_ATTEMPT'], "
         "os.environ['CLOUD_RUN_EXECUTION'], os.environ['CLOUD_RUN_TASK_INDEX']); "
         "sys.exit(0 if os.environ['CLOUD_RUN_TASK_ATTEMPT'] == sys.argv[1] else 1)"]
ATTEMPT = r"^job djapp-default \| attempt (\d) (djapp-default-[0-9a-f]{6}) 0$"


@pytest.fixture
def signer() -> LocalSigner:
    return LocalSigner()


def jobs_for(signer: LocalSigner, out: io.StringIO, *, succeeds_at: int = 2, max_retries: int = 3) -> Jobs:
    return Jobs([Job(JOB_PATH, INVOKER, FLAKY, [str(succeeds_at)], max_retries)], signer=signer,
                supervisor=Supervisor(out), env={"PATH": "/usr/bin:/bin"}, cwd=None)


def job_task(body: bytes = b"{}", name: str = "t1") -> tasks_v2.CreateTaskRequest:
    """A job-target task as cloudtasks.enqueue.task_request builds it (its body: the job as defined)."""
    queue = "projects/local/locations/local/queues/djapp-default"
    return tasks_v2.CreateTaskRequest(parent=queue, task=tasks_v2.Task(
        name=f"{queue}/tasks/{name}",
        http_request=tasks_v2.HttpRequest(
            url=f"https://run.googleapis.com/v2/{JOB_PATH}:run", body=body,
            oauth_token=tasks_v2.OAuthToken(service_account_email=INVOKER),
        ),
    ))


def pushed(request: tasks_v2.CreateTaskRequest) -> tuple[str, dict[str, str], bytes]:
    """The jobs:run call the emulator makes for `request`'s task (t1), as it arrives locally."""
    http = request.task.http_request
    return f"/v2/{JOB_PATH}:run", {**http.headers, TASK_NAME_HEADER: "t1"}, http.body


def attempts(out: io.StringIO) -> list[tuple[str, str]]:
    return [m.groups() for line in out.getvalue().splitlines() if (m := re.match(ATTEMPT, line))]


def test_a_vouched_job_task_runs_the_jobs_own_command_and_args_retried_as_cloud_run_does(signer):
    out = io.StringIO()
    jobs = jobs_for(signer, out, succeeds_at=2)

    status, answer = jobs.accept(*pushed(vouch(job_task(), signer)))
    jobs.executions[-1].join(timeout=30)

    assert status == HTTPStatus.OK
    execution = attempts(out)[0][1]
    # Each retry is the same execution's task 0, as Cloud Run's retries are.
    assert attempts(out) == [("0", execution), ("1", execution), ("2", execution)]
    assert json.loads(answer) == {"name": f"{JOB_PATH}/executions/{execution}"}
    assert out.getvalue().splitlines().count("job djapp-default | exited with status 1; retrying") == 2


def test_each_call_starts_an_execution_of_its_own(signer):
    out = io.StringIO()
    jobs = jobs_for(signer, out, succeeds_at=0)

    for _ in range(2):
        jobs.accept(*pushed(vouch(job_task(), signer)))
        jobs.executions[-1].join(timeout=30)

    [(_, first), (_, second)] = attempts(out)
    assert first != second


def test_an_execution_gives_up_after_the_jobs_max_retries(signer):
    out = io.StringIO()
    jobs = jobs_for(signer, out, succeeds_at=9, max_retries=1)

    jobs.accept(*pushed(vouch(job_task(), signer)))
    jobs.executions[-1].join(timeout=30)

    assert out.getvalue().splitlines()[-1] == "job djapp-default | exited with status 1; failed, no retries left"


OVERRIDES = {
    "env": {"containerOverrides": [{"env": [{"name": "PYTHONWARNINGS", "value": "ignore::antigravity.x"},
                                            {"name": "BROWSER", "value": "/bin/sh -c 'touch /tmp/pwned' %s"}]}]},
    "args": {"containerOverrides": [{"args": ["--payload", "{}"]}]},
    "task count": {"taskCount": 5},
    "timeout": {"timeout": "60s"},
    "nothing in them": {},
}


@pytest.mark.parametrize("overrides", OVERRIDES.values(), ids=OVERRIDES.keys())
def test_a_vouched_call_with_overrides_is_refused_as_cloud_run_refuses_the_invoker(signer, overrides):
    out = io.StringIO()
    jobs = jobs_for(signer, out)

    status, message = jobs.accept(*pushed(vouch(job_task(json.dumps({"overrides": overrides}).encode()), signer)))

    assert status == HTTPStatus.FORBIDDEN
    assert message == (
        f"refused: permission run.jobs.runWithOverrides denied on job djapp-default; its invoker {INVOKER} "
        "may start it only as it is defined (roles/run.invoker)"
    )
    assert jobs.executions == []


REFUSED = {
    "no token": lambda signer, request: request,
    "another key": lambda signer, request: vouch(request, LocalSigner()),
    "another task's token": lambda signer, request: _with_headers_of(vouch(job_task(name="t2"), signer), request),
}


def _with_headers_of(source: tasks_v2.CreateTaskRequest, request: tasks_v2.CreateTaskRequest) -> tasks_v2.CreateTaskRequest:
    request.task.http_request.headers["Authorization"] = source.task.http_request.headers["Authorization"]
    return request


@pytest.mark.parametrize("forge", REFUSED.values(), ids=REFUSED.keys())
def test_a_call_this_system_did_not_vouch_for_starts_nothing(signer, forge):
    out = io.StringIO()
    jobs = jobs_for(signer, out)

    status, message = jobs.accept(*pushed(forge(signer, job_task())))

    assert status == HTTPStatus.UNAUTHORIZED, message
    assert jobs.executions == []

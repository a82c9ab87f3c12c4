"""Cloud Run's jobs:run, played locally: an execution is the worker command, run here.

A job-target task is a `POST https://run.googleapis.com/v2/projects/P/locations/L/jobs/J:run`
with an empty RunJobRequest: the job as it is defined. The emulator launcher sends those
calls here, on loopback, instead; each starts an execution: the job's command and its
own args (the stack's WORKER_COMMAND and worker args: `run_task --queue NAME`) as a
process of the local run, retried up to the job's max_retries with CLOUD_RUN_EXECUTION,
CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_ATTEMPT set as Cloud Run sets them. The call is
answered once the execution has started, as jobs:run answers.

A call with `overrides` is refused with 403, as Cloud Run refuses it to the queues'
invokers, which hold `roles/run.invoker` on their job and not `run.jobs.runWithOverrides`.
Only calls that carry a token of this system's key, bound to that task, start anything
(cloudtasks.auth.local_signing): nothing else on the machine can run a command through here.
The local scheduler starts executions directly, with its schedule's args (`Jobs.execute`),
as a ScheduledTrigger's caller may.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cloudtasks.auth import local_signing, verify
from cloudtasks.auth.local_signing import LocalSigner
from cloudtasks.config.env import EXECUTION, TASK_ATTEMPT, TASK_INDEX
from cloudtasks.enqueue.task_request import RUN_API
from local_run.processes import Supervisor

MAX_BODY_BYTES = 1024 * 1024  # a task is at most 1 MB


@dataclass(frozen=True)
class Job:
    path: str  # projects/P/locations/L/jobs/J
    invoker_email: str  # whom its tasks' tokens name
    command: Sequence[str]
    args: Sequence[str]  # the job's own: what an execution started without overrides runs
    max_retries: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class Jobs:
    """The jobs of a local run, and their executions."""

    def __init__(
        self, jobs: Sequence[Job], *, signer: LocalSigner, supervisor: Supervisor,
        env: Mapping[str, str], cwd: Path | None,
    ) -> None:
        self._jobs = {job.path: job for job in jobs}
        self._signer = signer
        self._supervisor = supervisor
        self._env = env
        self._cwd = cwd
        self._server: ThreadingHTTPServer | None = None
        self.executions: list[threading.Thread] = []  # started so far

    def execute(self, job: Job, args: Sequence[str]) -> threading.Thread:
        """Start an execution of `job` with `args`, in a thread of its own, named as Cloud
        Run names executions (the job's name and a suffix)."""
        execution = f"{job.name}-{secrets.token_hex(3)}"
        thread = threading.Thread(
            target=self._run_execution, args=(job, list(args), execution), name=execution, daemon=True
        )
        self.executions.append(thread)
        thread.start()
        return thread

    def job(self, path: str) -> Job:
        return self._jobs[path]

    def say(self, line: str) -> None:
        self._supervisor.say("jobs", line)

    def serve(self, port: int) -> None:
        """Answer jobs:run calls on 127.0.0.1:`port`, in a thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def accept(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[HTTPStatus, str]:
        """Judge one jobs:run call; start its execution if it may run."""
        job_path = path.removeprefix("/v2/").removesuffix(":run")
        job = self._jobs.get(job_path)
        if not path.startswith("/v2/") or not path.endswith(":run") or job is None:
            return HTTPStatus.NOT_FOUND, f"no job {job_path!r} here; jobs: {', '.join(self._jobs)}"
        verifier = verify.TokenVerifier(
            keys=verify.StaticSigningKeys(self._signer.jwks()),
            issuers=(self._signer.issuer,),
            audience=f"{RUN_API}/{job.path}:run",
            invoker_emails=frozenset({job.invoker_email}),
        )
        try:
            claims = verifier.verify(headers.get("Authorization"))
        except (verify.InvalidToken, verify.WrongIdentity) as error:
            return HTTPStatus.UNAUTHORIZED, f"refused: {error}"
        task_name = headers.get(local_signing.TASK_NAME_HEADER, "")
        if not local_signing.bound_to(claims, task_name=task_name, body=body):
            return HTTPStatus.UNAUTHORIZED, f"refused: the token was not minted for task {task_name!r} and this body"
        try:
            request = json.loads(body or b"{}")
        except ValueError as error:
            return HTTPStatus.BAD_REQUEST, f"not a RunJobRequest: {error}"
        if not isinstance(request, dict):
            return HTTPStatus.BAD_REQUEST, "not a RunJobRequest: the body must be a JSON object"
        if "overrides" in request:
            return HTTPStatus.FORBIDDEN, (
                f"refused: permission run.jobs.runWithOverrides denied on job {job.name}; its invoker "
                f"{job.invoker_email} may start it only as it is defined (roles/run.invoker)"
            )
        execution = self.execute(job, job.args)
        return HTTPStatus.OK, json.dumps({"name": f"{job.path}/executions/{execution.name}"})

    def _run_execution(self, job: Job, args: list[str], execution: str) -> None:
        name = f"job {job.name}"
        # One task per execution, as the stack's jobs run; each attempt shares the
        # execution's name and task index, as Cloud Run's retries do.
        execution_env = {**self._env, EXECUTION: execution, TASK_INDEX: "0"}
        for attempt in range(job.max_retries + 1):
            status = self._supervisor.run(
                name, [*job.command, *args], env={**execution_env, TASK_ATTEMPT: str(attempt)}, cwd=self._cwd
            )
            if status == 0:
                return
            if self._supervisor.stopping.is_set():
                return
            retrying = attempt < job.max_retries
            self._supervisor.say(name, f"exited with status {status}; {'retrying' if retrying else 'failed, no retries left'}")


def _handler(jobs: Jobs) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                status, message = HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "a task is at most 1 MB"
            else:
                status, message = jobs.accept(self.path, self.headers, self.rfile.read(length))
            if status != HTTPStatus.OK:
                jobs.say(f"jobs:run {self.path}: {status.value} {message}")
            encoded = message.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status == HTTPStatus.OK else "text/plain")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the emulator launcher says what each push answered

    return Handler

"""The soak's load (benchmarks/soak.py): a steady mix of tasks enqueued at a rate, and
pushes delivered twice.

Every task is the tests' `soak_write` (tests/django/taskapp/tasks.py): one write with a
unique key in its transaction. Imported once Django is set up (benchmarks/soak_system.py).
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.error import HTTPError
from urllib.parse import urlsplit

import grpc
from django.db import Error as DatabaseError
from django.db import connection
from django.utils import timezone
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from tests.django.taskapp.tasks import soak_write

HTTP_BACKEND, JOB_BACKEND = "default", "jobs"  # config.settings' TASKS
DEFAULT_QUEUE, LONG_QUEUE = "default", "long"  # config.settings' TASK_QUEUES
GOOGLE_RUN_API = "https://run.googleapis.com"  # where a job task's jobs:run call goes
# How long after a push is seen waiting it is delivered again: before, during or after
# the emulator's own delivery of it.
REDELIVERY_DELAY_SECONDS = (0.0, 20.0)
POLL_SECONDS = 1.0
DEFERRED_SECONDS = (1.0, 10.0)
ANSWER_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Mix:
    """What share of the tasks is of each kind (each drawn on its own)."""

    job: float = 0.10  # job tasks (an execution each); the others are HTTP tasks
    long: float = 0.10  # on the "long" queue; the others on "default"
    fail_first: float = 0.05  # fail their first attempt
    fail_for_good: float = 0.01  # fail every attempt, or at once (PermanentFailure)
    child: float = 0.05  # enqueue a child task in their transaction
    deferred: float = 0.05  # to run DEFERRED_SECONDS after they are enqueued (run_after)


@dataclass(frozen=True)
class Planned:
    label: str  # the task's write's key, and its first argument
    backend: str
    queue: str
    fail: str  # soak_write's `fail`
    child: bool
    deferred: float  # seconds after enqueueing that it may run (0: at once)


class Load:
    """Enqueues `rate` tasks a second of `mix` (drawn with `seed`), until told to stop.

    A task failing for good fails on every attempt when its queue's retries can run out
    before the load ends (`retry_windows`: by queue name, the seconds in which Cloud Tasks
    may still retry an HTTP task; a job's retries come at once), else at once."""

    def __init__(self, rate: float, mix: Mix, seed: int, retry_windows: Mapping[str, float]) -> None:
        self.rate = rate
        self.mix = mix
        self.random = random.Random(seed)
        self.retry_windows = retry_windows
        self.enqueued: list[Planned] = []  # enqueue returned
        self.enqueued_by_backend: Counter[str] = Counter()
        self.refused: list[Planned] = []  # enqueue raised a database error (its row may have committed)
        self.refusal_reasons: Counter[str] = Counter()

    def plan(self, number: int, seconds_left: float) -> Planned:
        draw = self.random.random
        backend = JOB_BACKEND if draw() < self.mix.job else HTTP_BACKEND
        queue = LONG_QUEUE if draw() < self.mix.long else DEFAULT_QUEUE
        fail = "never"
        if draw() < self.mix.fail_for_good:
            runs_out = backend == JOB_BACKEND or self.retry_windows[queue] <= seconds_left
            fail = "always" if runs_out and draw() < 0.5 else "permanent"
        elif draw() < self.mix.fail_first:
            fail = "first"
        kind = "j" if backend == JOB_BACKEND else "h"
        child = draw() < self.mix.child
        deferred = self.random.uniform(*DEFERRED_SECONDS) if draw() < self.mix.deferred else 0.0
        return Planned(f"{kind}{queue[0]}-{number:06d}", backend, queue, fail, child, deferred)

    def run(self, seconds: float, stopping: threading.Event) -> None:
        """Enqueue for `seconds` (or until `stopping`), at the rate, from this thread."""
        started = time.monotonic()
        due = started
        number = 0
        while not stopping.is_set() and (now := time.monotonic()) < started + seconds:
            if due > now:
                stopping.wait(due - now)
                continue
            number += 1
            self.enqueue(self.plan(number, started + seconds - now))
            # After a stall (the database down, the machine busy), on at the rate, not in a burst.
            due = max(due + 1 / self.rate, time.monotonic() - 1)

    def enqueue(self, planned: Planned) -> None:
        run_after = timezone.now() + timedelta(seconds=planned.deferred) if planned.deferred else None
        task = soak_write.using(backend=planned.backend, queue_name=planned.queue, run_after=run_after)
        try:
            task.enqueue(planned.label, fail=planned.fail, child=planned.child)
        except DatabaseError as error:
            self.refused.append(planned)
            self.refusal_reasons[f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"] += 1
            connection.close()  # the next enqueue connects again
            return
        self.enqueued.append(planned)
        self.enqueued_by_backend[planned.backend] += 1


@dataclass
class Duplicates:
    """Pushes delivered twice, as Cloud Tasks may deliver a task twice: a task seen waiting
    in the emulator (ListTasks shows a task's headers, its token included) is delivered
    again, as the emulator delivers it, some seconds later: an HTTP task's push to the
    handler, a job task's jobs:run call to the jobs:run stand-in. At most `share` of the
    HTTP tasks and of the job tasks enqueued so far (a job task waits in the emulator only
    until its jobs:run call is made: those seen are mostly deferred ones)."""

    emulator_address: str
    queue_paths: list[str]
    run_api: str  # the jobs:run stand-in, for GOOGLE_RUN_API
    share: float
    seed: int
    answers: Counter[str] = field(default_factory=Counter)  # what each delivery again was answered
    pushes: int = 0
    job_runs: int = 0

    def run(self, seconds: float, stopping: threading.Event, enqueued: Callable[[str], int]) -> None:
        """For `seconds`, deliver again some of the tasks seen waiting; then the last ones.
        `enqueued(backend)`: how many tasks of that backend were enqueued so far."""
        rng = random.Random(self.seed)
        seen: set[str] = set()
        taken: Counter[str] = Counter()  # by backend
        waiting: list[tuple[float, tasks_v2.Task]] = []  # (when, task) to deliver again
        ends = time.monotonic() + seconds
        with grpc.insecure_channel(self.emulator_address) as channel:
            client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
            while not stopping.is_set() and (time.monotonic() < ends or waiting):
                for task in self._waiting_tasks(client) if time.monotonic() < ends else ():
                    backend = JOB_BACKEND if _is_job_run(task.http_request.url) else HTTP_BACKEND
                    if task.name in seen or taken[backend] >= self.share * enqueued(backend):
                        continue
                    seen.add(task.name)
                    taken[backend] += 1
                    # Never before the task is due: Cloud Tasks delivers a task only then.
                    due_in = (task.schedule_time - datetime.now(UTC)).total_seconds() if task.schedule_time else 0
                    waiting.append((time.monotonic() + max(due_in, rng.uniform(*REDELIVERY_DELAY_SECONDS)), task))
                for entry in [entry for entry in waiting if entry[0] <= time.monotonic()]:
                    waiting.remove(entry)
                    self.deliver(entry[1])
                stopping.wait(POLL_SECONDS)

    def _waiting_tasks(self, client: tasks_v2.CloudTasksClient) -> list[tasks_v2.Task]:
        tasks = []
        for queue_path in self.queue_paths:
            try:
                tasks += client.list_tasks(
                    request=tasks_v2.ListTasksRequest(parent=queue_path, response_view=tasks_v2.Task.View.FULL)
                )
            except grpc.RpcError:
                pass  # the emulator busy or stopping: look again at the next poll
        return tasks

    def deliver(self, task: tasks_v2.Task) -> None:
        """The push the emulator makes of `task`, made once more."""
        http = task.http_request
        url = http.url
        is_job_run = _is_job_run(url)
        if is_job_run:
            url = self.run_api + url[len(GOOGLE_RUN_API):]
        if urlsplit(url).hostname != "127.0.0.1":
            raise AssertionError(f"a task to deliver again names {url}: the soak delivers on 127.0.0.1 only")
        headers = {
            **http.headers,
            # As the emulator sets them for its next delivery (gcloud-tasks-emulator's _make_task_request).
            "X-CloudTasks-QueueName": task.name.rsplit("/", 2)[0],
            "X-CloudTasks-TaskName": task.name.rsplit("/", 1)[-1],
            "X-CloudTasks-TaskRetryCount": str(task.dispatch_count),
            "X-CloudTasks-TaskExecutionCount": str(task.dispatch_count),
        }
        request = urllib.request.Request(url, data=http.body, headers=headers, method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
        try:
            with opener.open(request, timeout=ANSWER_TIMEOUT_SECONDS) as response:
                status, body = response.status, response.read()
        except HTTPError as error:
            status, body = error.code, error.read()
        except OSError as error:
            status, body = 0, str(error).encode()
        if is_job_run:
            self.job_runs += 1
            self.answers[f"jobs:run {status}"] += 1
        else:
            self.pushes += 1
            self.answers[f"push {status} {_outcome(body)}"] += 1


def _is_job_run(url: str) -> bool:
    return url.startswith(f"{GOOGLE_RUN_API}/")


def _outcome(body: bytes) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        return "(not JSON)"
    return answer.get("outcome") or answer.get("status", "?") if isinstance(answer, dict) else "?"

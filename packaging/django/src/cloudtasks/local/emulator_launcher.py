"""gcloud-tasks-emulator, run the way a local run needs it (cloudtasks.local.emulator
starts it; `manage.py cloudtasks_emulator` and this repository's scripts/dev.sh use that).

Runs inside the emulator's own environment (it pins an older protobuf than Django's
side), not imported by Django:

    uvx --from gcloud-tasks-emulator==0.6.2 python emulator_launcher.py '<config JSON>'

with the config {"port": N, "run_api": "http://127.0.0.1:P" or null, "retry_module":
"<path of cloudtasks/config/retry.py>", "queues": {"<queue path>": {<RetryConfig as declared>}}}.

What it changes from `gcloud-tasks-emulator start`, and why:
- It listens on 127.0.0.1 only. `start` binds every interface ([::]) and has no option
  for it; its gRPC API has no authentication, so anyone on the network could create
  tasks, and they would be pushed from this machine.
- Each queue retries a failed push by its retry policy as the stack declares it, read by
  the run side's own code (cloudtasks/config/retry.py), and then gives up; `start` retries every
  100 ms, forever.
- It pushes to loopback only. A job task's jobs:run call (on run.googleapis.com) goes to
  the local stand-in for jobs:run at `run_api` instead, never to Google (dropped when
  there is none), which starts the job as defined (its own args: the call overrides
  nothing); a task for any other address is dropped. Pushes ignore HTTP proxies from the
  environment.
- One line per push, printed once (`start` logs every line twice, with tracebacks).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import logging
import signal
import sys
import threading
from concurrent import futures
from datetime import datetime, timezone
from typing import Any
from urllib import request as urllib_request
from urllib.parse import urlsplit

import grpc
from gcloud_tasks_emulator import server
from google.cloud.tasks_v2 import Queue, Task

GOOGLE_RUN_API = "https://run.googleapis.com"

log = logging.getLogger("emulator")


def load_retry_module(path: str) -> Any:
    """cloudtasks/config/retry.py (plain Python, no Django), loaded from its file."""
    spec = importlib.util.spec_from_file_location("cloudtasks_retry", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def local_url(url: str, run_api: str | None) -> str | None:
    """Where a task's URL is pushed locally: jobs:run goes to the stand-in; None for any
    address that is not on loopback, and for jobs:run without a stand-in."""
    if url.startswith(f"{GOOGLE_RUN_API}/"):
        return run_api + url[len(GOOGLE_RUN_API):] if run_api else None
    host = urlsplit(url).hostname or ""
    try:
        return url if ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return url if host == "localhost" else None


class LocalQueueState(server.QueueState):
    """The emulator's queues, retried by their declared policies, pushing to loopback only."""

    def __init__(self, policies: dict[str, Any], default_policy: Any, run_api: str | None) -> None:
        # max_retries -1: the emulator keeps every failed task; submit_task decides.
        super().__init__(target_host="127.0.0.1", target_port=0, max_retries=-1)
        self._policies = policies
        self._default_policy = default_policy
        self._run_api = run_api
        self._first_attempts: dict[str, datetime] = {}
        self._dropped: set[str] = set()

    def push(self, queue_name: str, task: Task, host: str, port: int) -> Any:
        """Replaces the emulator's push: to the local address of the task's URL."""
        url = local_url(task.http_request.url, self._run_api)
        if url is None:
            self._dropped.add(task.name)
            raise RuntimeError(f"{task.http_request.url} is not on this machine")
        pushed = Task.deserialize(Task.serialize(task))
        pushed.http_request.url = url
        return original_push(queue_name, pushed, host, port)

    def submit_task(self, task_name: str, force_run: bool = False) -> Task:
        # Each queue's thread submits its own tasks, one at a time.
        started = datetime.now(timezone.utc)
        dispatches = self._dispatch_count(task_name)
        task = super().submit_task(task_name, force_run)
        if task.dispatch_count == dispatches:
            return task  # not due yet
        first = self._first_attempts.setdefault(task.name, started)
        status = task.last_attempt.response_status.code
        short = task.name.rsplit("/", 1)[-1]
        if not 400 <= status < 600:
            log.info("task %s: attempt %d answered %d", short, task.dispatch_count, status)
            self._forget(task)
            return task
        queue = task.name.rsplit("/", 2)[0]
        policy = self._policies.get(queue, self._default_policy)
        now = datetime.now(timezone.utc)
        if task.name in self._dropped:
            log.error("task %s: dropped, its URL %s is not on this machine", short, task.http_request.url)
            self._remove(queue, task)
        elif policy.gives_up(task.dispatch_count, now - first):
            log.error("task %s: attempt %d answered %d; the queue's retry policy gives up",
                      short, task.dispatch_count, status)
            self._remove(queue, task)
        else:
            delay = policy.delay_before_retry(task.dispatch_count)
            task.schedule_time = now + delay
            log.warning("task %s: attempt %d answered %d; retry in %ss",
                        short, task.dispatch_count, status, delay.total_seconds())
        return task

    def _dispatch_count(self, task_name: str) -> int:
        queue = task_name.rsplit("/", 2)[0]
        for task in self._queue_tasks.get(queue, []):
            if task.name == task_name:
                return task.dispatch_count
        return 0

    def _remove(self, queue: str, task: Task) -> None:
        tasks = self._queue_tasks.get(queue, [])
        for index, queued in enumerate(tasks):
            if queued is task:
                del tasks[index]
                break
        self._forget(task)

    def _forget(self, task: Task) -> None:
        self._first_attempts.pop(task.name, None)
        self._dropped.discard(task.name)


original_push = server._make_task_request


def serve(config: dict[str, Any]) -> None:
    retry = load_retry_module(config["retry_module"])
    policies = {path: retry.read_retry(declared) for path, declared in config["queues"].items()}
    state = LocalQueueState(policies, retry.read_retry({}), config.get("run_api"))
    server._make_task_request = state.push
    for path in config["queues"]:
        state.create_queue(path.rsplit("/", 2)[0], Queue(name=path))

    api = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_CloudTasksServicer_to_server(server.Greeter(state), api)
    address = f"127.0.0.1:{config['port']}"
    api.add_insecure_port(address)  # raises if the port is taken
    api.start()
    processor = server.Processor(state)
    processor.start()
    log.info("serving the Cloud Tasks API on %s; queues: %s", address, ", ".join(config["queues"]))

    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    processor.join(timeout=1)
    api.stop(grace=0)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    # The emulator's own lines repeat what this module says once.
    logging.getLogger("gcloud-tasks-emulator").setLevel(logging.CRITICAL)
    # Pushes go straight to loopback, whatever proxy the environment names.
    urllib_request.install_opener(urllib_request.build_opener(urllib_request.ProxyHandler({})))
    serve(json.loads(sys.argv[1]))


if __name__ == "__main__":
    main()

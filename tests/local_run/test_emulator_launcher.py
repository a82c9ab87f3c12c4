"""The emulator as a local run starts it: each queue retries by its declared policy and
then gives up; job tasks go to the local jobs:run, never to Google; nothing is pushed
anywhere but loopback, whatever proxy the environment names."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from cloudtasks.local.emulator import RETRY_MODULE
from tests.django.loopback import free_port
from tests.local_run.launcher import Launched, launch

LOCATION = "projects/local/locations/local"
FLAKY, JOBS, ELSEWHERE = (f"{LOCATION}/queues/{name}" for name in ("flaky", "jobs", "elsewhere"))
# Three attempts, 0.5 s then 1 s apart (backoff doubles from min_backoff up to max_backoff).
FLAKY_RETRY = {"max_attempts": 3, "min_backoff": "0.5s", "max_backoff": "1s"}
WAIT_SECONDS = 15


@dataclass
class Received:
    path: str
    headers: Message  # case-insensitive, as HTTP headers are
    body: bytes
    at: float = field(default_factory=time.monotonic)


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[str, list[Received]]]:
    """An HTTP server on loopback that records each request and answers 500."""
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append(Received(self.path, self.headers, body))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def emulator(target) -> Iterator[tuple[Launched, tasks_v2.CloudTasksClient]]:
    url, _ = target
    port = free_port()
    config = {
        "port": port, "run_api": url, "retry_module": str(RETRY_MODULE),
        "queues": {FLAKY: FLAKY_RETRY, JOBS: {"max_attempts": 1}, ELSEWHERE: {"max_attempts": 1}},
    }
    # A proxy that does not exist: a push that went through it would never arrive.
    launched = launch(config, env={"http_proxy": f"http://127.0.0.1:{free_port()}", "HTTP_PROXY": ""})
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield launched, tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    channel.close()
    launched.stop()


def create(client: tasks_v2.CloudTasksClient, queue: str, name: str, url: str) -> None:
    client.create_task(parent=queue, task=tasks_v2.Task(
        name=f"{queue}/tasks/{name}", http_request=tasks_v2.HttpRequest(url=url, body=name.encode()),
    ))


def arrived(received: list[Received], name: str) -> list[Received]:
    return [r for r in received if r.body == name.encode()]


def test_a_failing_push_is_retried_by_its_queues_policy_then_given_up(emulator, target):
    launched, client = emulator
    url, received = target

    create(client, FLAKY, "flaky-1", f"{url}/tasks/run/")

    launched.output.wait_for(r"task flaky-1: attempt 3 answered 500; the queue's retry policy gives up", WAIT_SECONDS)
    attempts = arrived(received, "flaky-1")
    assert len(attempts) == 3
    gaps = [later.at - earlier.at for earlier, later in zip(attempts, attempts[1:])]
    assert gaps[0] >= 0.5 and gaps[1] >= 1.0, gaps
    assert [line for line in launched.output.lines if "flaky-1" in line] == [
        "task flaky-1: attempt 1 answered 500; retry in 0.5s",
        "task flaky-1: attempt 2 answered 500; retry in 1.0s",
        "task flaky-1: attempt 3 answered 500; the queue's retry policy gives up",
    ]
    assert client.list_tasks(parent=FLAKY).tasks == []


def test_a_job_task_calls_the_local_jobs_run_not_google(emulator, target):
    launched, client = emulator
    url, received = target
    job = "projects/local/locations/local/jobs/djapp-default"

    create(client, JOBS, "job-1", f"https://run.googleapis.com/v2/{job}:run")

    launched.output.wait_for(r"task job-1: attempt 1 answered 500; the queue's retry policy gives up", WAIT_SECONDS)
    [call] = arrived(received, "job-1")
    assert call.path == f"/v2/{job}:run"
    assert call.headers["X-CloudTasks-TaskName"] == "job-1"


def test_a_task_for_another_host_is_dropped_without_being_sent(emulator):
    launched, client = emulator

    create(client, ELSEWHERE, "elsewhere-1", "http://example.invalid/tasks/run/")

    launched.output.wait_for(
        r"task elsewhere-1: dropped, its URL http://example.invalid/tasks/run/ is not on this machine", WAIT_SECONDS
    )
    assert client.list_tasks(parent=ELSEWHERE).tasks == []

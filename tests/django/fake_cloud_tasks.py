"""A Cloud Tasks gRPC server for tests: records each CreateTask and answers as scripted.

It is a real gRPC server on a loopback port, so the backend talks to it through the
same client, channel and error mapping it uses against Google. Each CreateTask takes
the next step of `script`: a status code to fail with, or a Stall; when the script is
used up, the call succeeds.
"""

from __future__ import annotations

import time
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from google.cloud import tasks_v2

SERVICE = "google.cloud.tasks.v2.CloudTasks"


@dataclass(frozen=True)
class Stall:
    """Create the task, but answer only after `seconds`: later than the caller waits."""

    seconds: float


@dataclass
class FakeCloudTasks:
    address: str = ""
    requests: list[tasks_v2.CreateTaskRequest] = field(default_factory=list)
    script: list[grpc.StatusCode | Stall] = field(default_factory=list)

    def reset(self) -> None:
        self.requests.clear()
        self.script.clear()

    def create_task(
        self, request: tasks_v2.CreateTaskRequest, context: grpc.ServicerContext
    ) -> tasks_v2.Task:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else None
        if isinstance(step, Stall):
            time.sleep(step.seconds)
        elif step is not None:
            context.abort(step, f"scripted {step.name}")
        return request.task


def serve(fake: FakeCloudTasks) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.unary_unary_rpc_method_handler(
        fake.create_task,
        request_deserializer=tasks_v2.CreateTaskRequest.deserialize,
        response_serializer=tasks_v2.Task.serialize,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {"CreateTask": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    fake.address = f"127.0.0.1:{port}"
    return server

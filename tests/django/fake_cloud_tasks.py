"""A Cloud Tasks gRPC server for tests: records each CreateTask and answers as scripted.

It is a real gRPC server on a loopback port, so the backend talks to it through the
same client, channel and error mapping it uses against Google. Each CreateTask takes
the next step of `script`: a status code to fail with, or a Stall; when the script is
used up, the call succeeds, and the task is held (by name) until `drop` lets it go,
as Cloud Tasks holds a task until it ran or its queue gave up on it. GetTask answers
from what it holds, NOT_FOUND otherwise; CreateTask of a name it holds answers
ALREADY_EXISTS. DeleteTask (each one recorded in `deleted`) lets go of a task it holds,
NOT_FOUND otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from google.cloud import tasks_v2
from google.protobuf import empty_pb2

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
    held: dict[str, tasks_v2.Task] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)  # the name of every DeleteTask call, in order
    # Called with each CreateTask request as it arrives, on the server's thread.
    on_create: Callable[[tasks_v2.CreateTaskRequest], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.script.clear()
            self.held.clear()
            self.deleted.clear()
            self.on_create = None

    def drop(self, name: str) -> None:
        """Let go of a task, as Cloud Tasks does once its queue gives up on it."""
        with self._lock:
            del self.held[name]

    def names(self) -> list[str]:
        """The task name of every CreateTask call so far, in order."""
        return [request.task.name for request in self.requests]

    def create_task(self, request: tasks_v2.CreateTaskRequest, context: grpc.ServicerContext) -> tasks_v2.Task:
        if self.on_create:
            self.on_create(request)
        with self._lock:
            self.requests.append(request)
            step = self.script.pop(0) if self.script else None
            exists = request.task.name in self.held
            if step is None or isinstance(step, Stall):
                self.held.setdefault(request.task.name, request.task)
        if isinstance(step, Stall):
            time.sleep(step.seconds)
        elif step is not None:
            context.abort(step, f"scripted {step.name}")
        elif exists:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"task {request.task.name} exists")
        return request.task

    def get_task(self, request: tasks_v2.GetTaskRequest, context: grpc.ServicerContext) -> tasks_v2.Task:
        with self._lock:
            task = self.held.get(request.name)
        if task is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"task {request.name} not found")
        return task

    def delete_task(self, request: tasks_v2.DeleteTaskRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        with self._lock:
            self.deleted.append(request.name)
            task = self.held.pop(request.name, None)
        if task is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"task {request.name} not found")
        return empty_pb2.Empty()


def serve(fake: FakeCloudTasks) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handlers = {
        "CreateTask": grpc.unary_unary_rpc_method_handler(
            fake.create_task,
            request_deserializer=tasks_v2.CreateTaskRequest.deserialize,
            response_serializer=tasks_v2.Task.serialize,
        ),
        "GetTask": grpc.unary_unary_rpc_method_handler(
            fake.get_task,
            request_deserializer=tasks_v2.GetTaskRequest.deserialize,
            response_serializer=tasks_v2.Task.serialize,
        ),
        "DeleteTask": grpc.unary_unary_rpc_method_handler(
            fake.delete_task,
            request_deserializer=tasks_v2.DeleteTaskRequest.deserialize,
            response_serializer=empty_pb2.Empty.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    fake.address = f"127.0.0.1:{port}"
    return server

"""The Cloud Tasks client of this process, created on first use and then reused.

A client owns a gRPC channel (connections, TLS sessions, token refresh); one per
process keeps an enqueue to a single round trip. It is created lazily, so a server
that forks workers after loading the app (gunicorn --preload) gives each worker its
own channel rather than sharing one across fork.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from google.cloud.tasks_v2 import CloudTasksClient
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from cloudtasks.auth.local_signing import VouchForCreatedTasks
from cloudtasks.config.options import require_loopback

_lock = threading.Lock()
_clients: dict[str | None, CloudTasksClient] = {}
_substitutes: list[CloudTasksClient] = []  # innermost last (cloudtasks.testing)


def cloud_tasks_client(emulator_host: str | None = None) -> CloudTasksClient:
    """The client for Google's API (Application Default Credentials), or for an emulator.

    `emulator_host` ("127.0.0.1:8123") selects the emulator; it must be on the loopback
    interface, because the emulator speaks unauthenticated, unencrypted gRPC.
    """
    with _lock:
        if _substitutes:
            return _substitutes[-1]
        if emulator_host not in _clients:
            _clients[emulator_host] = _connect(emulator_host)
        return _clients[emulator_host]


@contextmanager
def substituted(client: CloudTasksClient) -> Iterator[None]:
    """Within the block, every Cloud Tasks client of this process is `client`: what tests
    use to see what would be sent, with nothing sent (cloudtasks.testing)."""
    with _lock:
        _substitutes.append(client)
    try:
        yield
    finally:
        with _lock:
            _substitutes.remove(client)


def _connect(emulator_host: str | None) -> CloudTasksClient:
    if emulator_host is None:
        return CloudTasksClient()
    # An emulator that restarts (a local run, a test) is found again within a second,
    # rather than after gRPC's reconnect backoff, which grows to two minutes.
    channel = grpc.insecure_channel(
        require_loopback(emulator_host),
        options=[("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 1000)],
    )
    # The emulator pushes without a token: locally, the tasks this system creates carry one.
    channel = grpc.intercept_channel(channel, VouchForCreatedTasks())
    return CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))

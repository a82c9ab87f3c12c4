"""The Cloud Tasks emulator (gcloud-tasks-emulator), run as a child process.

It serves the real Cloud Tasks gRPC API on a loopback port and pushes each task's HTTP
request to the URL the task carries. It runs in its own environment (through uvx)
because it pins an older protobuf than this project uses.

What it does not do, unlike Cloud Tasks: send a token with pushes, refuse duplicate
task names, honour a queue's retry and rate settings, or implement GetTask/DeleteTask.
It retries a failed push about every 100 ms, up to its --max-retries.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.cloud import tasks_v2

from cloudtasks.client import cloud_tasks_client
from tests.django.loopback import free_port

EMULATOR = ["--from", "gcloud-tasks-emulator==0.6.2", "gcloud-tasks-emulator", "start"]
START_TIMEOUT_SECONDS = 60  # the first run may have to install it into uv's cache
STOP_TIMEOUT_SECONDS = 5
LOCATION = "projects/example-project/locations/europe-west1"


class EmulatorFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Emulator:
    address: str  # "127.0.0.1:PORT": EMULATOR_HOST in a backend's OPTIONS
    process: subprocess.Popen[bytes]
    log: Path  # what it printed: read it when a test fails

    @property
    def client(self) -> tasks_v2.CloudTasksClient:
        return cloud_tasks_client(self.address)

    def create_queue(self, *, paused: bool) -> str:
        """A new queue with a unique name; returns its path."""
        path = f"{LOCATION}/queues/test-{uuid.uuid4().hex[:12]}"
        self.client.create_queue(parent=LOCATION, queue=tasks_v2.Queue(name=path))
        if paused:
            self.client.pause_queue(name=path)
        return path

    def delete_queue(self, path: str) -> None:
        # Also stops the emulator's thread that works on the queue.
        self.client.delete_queue(name=path)

    def list_tasks(self, queue_path: str) -> list[tasks_v2.Task]:
        return list(self.client.list_tasks(parent=queue_path))


def start(*, max_retries: int, log: Path) -> Emulator:
    """Start an emulator on a free loopback port; return once it answers gRPC."""
    try:
        # From uv's cache, if it is there: resolving against the index takes seconds.
        return _start(["uvx", "--offline", *EMULATOR], max_retries, log)
    except EmulatorFailed:
        return _start(["uvx", *EMULATOR], max_retries, log)


def _start(command: list[str], max_retries: int, log: Path) -> Emulator:
    port = free_port()
    try:
        with log.open("ab") as output:
            process = subprocess.Popen(
                [*command, "--port", str(port), "--max-retries", str(max_retries)],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends uvx and its child
            )
    except FileNotFoundError as error:
        raise EmulatorFailed(f"{command[0]} is not on PATH: install uv to run the emulator") from error
    emulator = Emulator(f"127.0.0.1:{port}", process, log)
    try:
        _wait_until_serving(emulator)
    except BaseException:
        stop(emulator)
        raise
    return emulator


def stop(emulator: Emulator) -> None:
    group = emulator.process.pid  # the group id: start_new_session made it the leader
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        try:
            emulator.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_until_serving(emulator: Emulator) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with grpc.insecure_channel(emulator.address) as channel:
        while time.monotonic() < deadline:
            if emulator.process.poll() is not None:
                raise EmulatorFailed(
                    f"the emulator exited with status {emulator.process.returncode}; "
                    f"it printed:\n{emulator.log.read_text(errors='replace')}"
                )
            try:
                grpc.channel_ready_future(channel).result(timeout=0.5)
                return
            except grpc.FutureTimeoutError:
                continue
    raise EmulatorFailed(
        f"the emulator did not serve on {emulator.address} within {START_TIMEOUT_SECONDS}s; "
        f"it printed:\n{emulator.log.read_text(errors='replace')}"
    )


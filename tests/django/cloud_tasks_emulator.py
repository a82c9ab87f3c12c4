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
from google.api_core.exceptions import ServiceUnavailable
from google.cloud import tasks_v2

from cloudtasks.enqueue.client import cloud_tasks_client
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

    def recreate_queue(self, path: str) -> None:
        """Create the queue `path` again (a restarted emulator has forgotten it), once the
        client's channel has found the emulator again."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                self.client.create_queue(parent=LOCATION, queue=tasks_v2.Queue(name=path), timeout=1)
                return
            except ServiceUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def freeze(self) -> None:
        """Stop the emulator in its tracks (SIGSTOP): it accepts connections and answers nothing."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)


def start(*, max_retries: int, log: Path, port: int | None = None) -> Emulator:
    """Start an emulator on `port` (default: a free loopback port); return once it answers gRPC."""
    try:
        # From uv's cache, if it is there: resolving against the index takes seconds.
        return _start(["uvx", "--offline", *EMULATOR], max_retries, log, port or free_port())
    except EmulatorFailed:
        return _start(["uvx", *EMULATOR], max_retries, log, port or free_port())


def restart(emulator: Emulator, *, max_retries: int) -> Emulator:
    """A new emulator on the stopped one's address (it starts empty: no queues, no tasks)."""
    return start(max_retries=max_retries, log=emulator.log, port=int(emulator.address.rsplit(":", 1)[1]))


def _start(command: list[str], max_retries: int, log: Path, port: int) -> Emulator:
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
    try:
        os.killpg(group, signal.SIGCONT)  # a frozen emulator would not act on SIGTERM
    except ProcessLookupError:
        return
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


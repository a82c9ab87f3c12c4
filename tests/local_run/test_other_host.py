"""Another host on the network cannot reach the local run's emulator.

Two network namespaces made for the test, joined by a virtual cable: "laptop" (where the
emulator runs, address 192.0.2.1) and "other" (another host on its network, 192.0.2.2).
192.0.2.0/24 is TEST-NET-1 (RFC 5737): no real network uses it, and the traffic never
leaves the namespaces. The emulator as local_run starts it refuses the other host; the
emulator's own `start`, beside it, lets the other host create a task (the attack the
local run closes), which shows the namespaces do carry traffic.

Needs root (CI runs as root); elsewhere it is skipped, saying why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudtasks.local import emulator
from tests.local_run.launcher import launch

LAPTOP_ADDRESS, OTHER_ADDRESS = "192.0.2.1", "192.0.2.2"
PORT, STOCK_PORT = 8123, 8124
QUEUE = "projects/local/locations/local/queues/djapp-default"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="making network namespaces needs root (CI runs as root)")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def namespaces() -> Iterator[tuple[str, str]]:
    tag = uuid.uuid4().hex[:6]
    laptop, other = f"laptop-{tag}", f"other-{tag}"
    ip("netns", "add", laptop)
    ip("netns", "add", other)
    try:
        ip("link", "add", f"vl-{tag}", "type", "veth", "peer", "name", f"vo-{tag}")
        for namespace, link, address in ((laptop, f"vl-{tag}", LAPTOP_ADDRESS), (other, f"vo-{tag}", OTHER_ADDRESS)):
            ip("link", "set", link, "netns", namespace)
            ip("-n", namespace, "addr", "add", f"{address}/24", "dev", link)
            ip("-n", namespace, "link", "set", link, "up")
            ip("-n", namespace, "link", "set", "lo", "up")
        yield laptop, other
    finally:
        for namespace in (laptop, other):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def emulators(namespaces) -> Iterator[None]:
    laptop, _ = namespaces
    config = {
        "port": PORT, "run_api": "http://127.0.0.1:9", "retry_module": str(emulator.RETRY_MODULE),
        "queues": {QUEUE: {"max_attempts": 1}},
    }
    inside = ["ip", "netns", "exec", laptop]
    started = [
        launch(config, prefix=inside),
        launch(config, prefix=inside, ready="All services started", argv=[
            "gcloud-tasks-emulator", "start", "--port", str(STOCK_PORT), "--default-queue", QUEUE,
        ]),
    ]
    yield
    for launched in started:
        launched.stop()


CREATE_TASK = textwrap.dedent("""
    import sys, grpc
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport
    channel = grpc.insecure_channel(sys.argv[1])
    client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    try:
        client.create_task(parent=sys.argv[2], task=tasks_v2.Task(http_request=tasks_v2.HttpRequest(
            url="http://127.0.0.1:8000/tasks/run/")), timeout=5)
        print("created")
    except Exception as error:
        print("refused:", type(error).__name__)
""")


def create_task_from(namespace: str, address: str) -> str:
    """What happens when a process in `namespace` calls CreateTask at `address`."""
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", CREATE_TASK, address, QUEUE],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent,
    )
    return result.stdout.strip() or result.stderr


def test_another_host_cannot_reach_the_local_runs_emulator(namespaces, emulators):
    _, other = namespaces

    assert create_task_from(other, f"{LAPTOP_ADDRESS}:{PORT}") == "refused: ServiceUnavailable"


def test_the_emulators_own_start_lets_another_host_create_tasks(namespaces, emulators):
    _, other = namespaces

    assert create_task_from(other, f"{LAPTOP_ADDRESS}:{STOCK_PORT}") == "created"


def test_on_the_laptop_itself_the_local_runs_emulator_serves(namespaces, emulators):
    laptop, _ = namespaces

    assert create_task_from(laptop, f"127.0.0.1:{PORT}") == "created"

"""The process's Cloud Tasks client, and where it may talk insecure gRPC."""

from __future__ import annotations

import pytest

from cloudtasks.config.options import require_loopback
from cloudtasks.enqueue.client import cloud_tasks_client


@pytest.mark.parametrize("address", ["127.0.0.1:8123", "127.0.0.2:8123", "[::1]:8123"])
def test_emulator_on_a_loopback_address_is_accepted(address):
    assert require_loopback(address) == address


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.8:8123",
        "emulator.example.test:8123",
        "localhost:8123",  # a name: it could resolve anywhere
        "127.0.0.1",  # no port
        "127.0.0.1:grpc",
    ],
)
def test_emulator_elsewhere_is_refused_since_its_grpc_is_insecure(address):
    with pytest.raises(ValueError, match="use an address like 127.0.0.1:8123"):
        require_loopback(address)


def test_one_client_serves_the_whole_process(fake_cloud_tasks):
    first = cloud_tasks_client(fake_cloud_tasks.address)

    assert cloud_tasks_client(fake_cloud_tasks.address) is first

"""Starting the Cloud Tasks emulator for a local run, on loopback (emulator_launcher.py).

The emulator runs in an environment of its own, made by uv's `uvx` (it pins an older
protobuf than Django's side uses): from uv's cache when it is there, else installed
from the index. Used by `manage.py cloudtasks_emulator` and by this repository's
scripts/dev.sh alike.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

PACKAGE = "gcloud-tasks-emulator==0.6.2"
LAUNCHER = Path(__file__).with_name("emulator_launcher.py")
# The run side's own reading of a queue's retry policy, loaded by the launcher from its file.
RETRY_MODULE = Path(__file__).parents[1] / "config" / "retry.py"
START_SECONDS = 120  # the first run may install the emulator into uv's cache


class EmulatorUnavailable(RuntimeError):
    """The emulator cannot be started here; the message says why and what to do."""


def launcher_config(port: int, queues: Mapping[str, Mapping[str, Any]], run_api: str | None = None) -> str:
    """The launcher's argument: serve on 127.0.0.1:`port` the `queues` (RetryConfig as
    declared, by queue path), sending jobs:run calls to `run_api` (none: dropped)."""
    return json.dumps({"port": port, "run_api": run_api, "retry_module": str(RETRY_MODULE), "queues": dict(queues)})


def launch_commands(config: str) -> list[list[str]]:
    """The commands that start the launcher, to try in order: from uv's cache (resolving
    against the index takes seconds), then from the index."""
    uvx = shutil.which("uvx")
    if uvx is None:
        raise EmulatorUnavailable(
            "uvx is not on PATH: the emulator runs in an environment uv makes for it. Install uv "
            "(pip install uv, or https://docs.astral.sh/uv/) and try again"
        )
    return [[uvx, *offline, "--from", PACKAGE, "python", str(LAUNCHER), config] for offline in (["--offline"], [])]


def serves(address: str, process: subprocess.Popen[Any], stopping: Callable[[], bool] = lambda: False,
           timeout: float = START_SECONDS) -> bool:
    """Whether the emulator `process` started serving at `address` within `timeout`
    seconds (False once it exits, or `stopping()` says to give up)."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        while time.monotonic() < deadline and process.poll() is None and not stopping():
            try:
                grpc.channel_ready_future(channel).result(timeout=0.5)
                return True
            except grpc.FutureTimeoutError:
                continue
    return False


def start(address: str, config: str, launch: Callable[[Sequence[str]], subprocess.Popen[Any]],
          stop: Callable[[subprocess.Popen[Any]], None], stopping: Callable[[], bool] = lambda: False,
          ) -> subprocess.Popen[Any]:
    """The emulator serving at `address`: each of `launch_commands` is started with
    `launch` until one serves; one that does not is ended with `stop`."""
    for command in launch_commands(config):
        process = launch(command)
        if serves(address, process, stopping):
            return process
        stop(process)
        if stopping():
            break
    raise EmulatorUnavailable(f"the Cloud Tasks emulator did not start serving at {address}")

"""The emulator as local runs start it (cloudtasks/local/emulator_launcher.py), for tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from cloudtasks.local import emulator
from tests.local_run.dev_system import Output

START_SECONDS = 60
SERVING = "serving the Cloud Tasks API"


class Launched:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.output = Output()
        threading.Thread(target=self._relay, daemon=True).start()

    def _relay(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.add(line.rstrip("\n"))

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def launch(config: dict[str, Any], *, prefix: Sequence[str] = (), ready: str = SERVING,
           argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> Launched:
    """Start the launcher with `config` (or `argv` in the emulator's environment), after
    `prefix` (e.g. `ip netns exec NS`); return once it says `ready`."""
    command = argv or ["python", str(emulator.LAUNCHER), json.dumps(config)]
    # From uv's cache if it is there, else installed from the index (a fresh machine).
    for offline in (["--offline"], []):
        process = subprocess.Popen(
            [*prefix, "uvx", *offline, "--from", emulator.PACKAGE, *command],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        launched = Launched(process)
        deadline = time.monotonic() + START_SECONDS
        while not launched.output.matching(ready) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if launched.output.matching(ready):
            return launched
        launched.stop()
    pytest.fail(f"the emulator did not say {ready!r}:\n" + "\n".join(launched.output.lines))

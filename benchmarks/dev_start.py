"""How long `scripts/dev.sh` takes to be ready, what it holds in memory, how fast Ctrl-C stops it.

    uv run python benchmarks/dev_start.py [--runs N]

Each run starts scripts/dev.sh on a free port with a new SQLite database (so `migrate`
creates every table, as on a first run), waits for its "Ready." line, sums the resident
memory of every process of the run (found by a marker in their environment), then sends
SIGINT and times the exit. Caches are warm: the environment is installed and the
emulator is in uv's cache.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.django.loopback import free_port  # noqa: E402
from tests.local_run import dev_system  # noqa: E402


def resident_mib(pids: list[int]) -> float:
    total_kib = 0
    for pid in pids:
        try:
            total_kib += int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
        except (OSError, AttributeError):
            continue
    return total_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CLOUD_TASKS_"))}
    ready, memory, stop = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as directory:
            env["DATABASE_URL"] = f"sqlite:///{directory}/db.sqlite3"
            began = time.monotonic()
            system = dev_system.start(free_port(), env)
            ready.append(time.monotonic() - began)
            pids = dev_system.processes_with(system.marker)
            memory.append(resident_mib(pids))
            began = time.monotonic()
            status = system.interrupt()
            stop.append(time.monotonic() - began)
            print(f"ready in {ready[-1]:.1f}s, {len(pids)} processes, {memory[-1]:.0f} MiB resident, "
                  f"stopped in {stop[-1]:.2f}s (exit {status})")
    print(f"median: ready {statistics.median(ready):.1f}s, {statistics.median(memory):.0f} MiB, "
          f"stop {statistics.median(stop):.2f}s")


if __name__ == "__main__":
    main()

"""What the app stack declares that a local run needs, printed as JSON.

Run in a process of its own (`python -m local_run.declared`): importing the stack starts
the jsii kernel (a node process), which should not outlive this one look.
"""

from __future__ import annotations

# First: constructs_lib sets up its fast provider loading (see main.py).
import constructs_lib  # noqa: F401, I001

import json
from dataclasses import asdict
from typing import Any

from constructs_lib.validation import parse_duration
from stacks import periodic
from stacks.app_stack import APP, QUEUES, WORKER_COMMAND, app_schedules


def declared() -> dict[str, Any]:
    return {
        "app": APP,
        "worker_command": WORKER_COMMAND,
        "queues": {
            queue.name: {
                # The queue's RetryConfig as the stack declares it: what Django's
                # CLOUD_TASKS_QUEUES carries too (fields left to Cloud Tasks left out).
                "retry": {field: value for field, value in asdict(queue.retry).items() if value is not None},
                "job_max_retries": queue.job_max_retries,
                "job_timeout": float(parse_duration(f"queue {queue.name}", "timeout", queue.timeout)),
                "max_running": queue.max_running,
                "slot_wait": queue.slot_wait,
                "worker_args": list(queue.worker_args),
            }
            for queue in QUEUES
        },
        "schedules": [
            {"name": s.name, "queue": s.queue, "schedule": s.schedule, "time_zone": s.time_zone, "args": list(s.args)}
            for s in app_schedules(periodic.declared())
        ],
    }


if __name__ == "__main__":
    print(json.dumps(declared()))

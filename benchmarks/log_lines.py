"""What JSON log lines cost: google-cloud-logging's import, and each line written.

    uv run python benchmarks/log_lines.py [--lines N]

- import: `cloudtasks.cloud_logging` (google-cloud-logging's StructuredLogHandler) in a
  fresh interpreter that has imported Django and google-cloud-tasks already, as every
  process of the app has (its settings load them): what JSON logs add to a process's
  start, once (gunicorn preloads the app in its arbiter: once per instance).
- a line: N lines through the root logger to a stream in memory, inside a Django request
  with a trace header (what google-cloud-logging's middleware keeps) and a task attempt's
  labels, each way: Django's text StreamHandler (local runs), cloudtasks.cloud_logging's
  handler, and `json.dumps` of the same fields by hand (what it would cost to write them
  without google-cloud-logging).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable

from harness import ROOT, machine, table

IMPORTS = "import django.tasks, google.cloud.tasks_v2, time; t = time.perf_counter(); import cloudtasks.cloud_logging; print(time.perf_counter() - t)"


def import_seconds(runs: int = 5) -> float:
    """The least of `runs` fresh interpreters' import times (the rest is the machine's noise)."""
    times = [
        float(subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True, cwd=ROOT).stdout)
        for _ in range(runs)
    ]
    return min(times)


class ByHand(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        from cloudtasks.logs import attempt_labels

        return json.dumps({
            "message": record.getMessage(), "severity": record.levelname,
            "logging.googleapis.com/labels": dict(attempt_labels()),
            "logging.googleapis.com/trace": "projects/example-project/traces/105445aa7843bc8bf206b12000100000",
        })


def per_line(handler: logging.Handler, lines: int) -> float:
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    log = logging.getLogger("benchmark")
    started = time.perf_counter()
    for number in range(lines):
        log.info("line %d of the task", number)
    return (time.perf_counter() - started) / lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=20_000, help="lines written each way (default 20,000)")
    arguments = parser.parse_args()

    import django
    from django.conf import settings

    settings.configure(ALLOWED_HOSTS=["testserver"])
    django.setup()
    from django.test import RequestFactory
    from google.cloud.logging_v2.handlers.middleware import RequestMiddleware

    from cloudtasks import logs
    from cloudtasks.cloud_logging import CloudLoggingHandler

    request = RequestFactory().post("/tasks/run/", HTTP_X_CLOUD_TRACE_CONTEXT="105445aa7843bc8bf206b12000100000/1;o=1")
    RequestMiddleware(None)(request)  # keeps it for the handler, as in a request

    def measured(make: Callable[[io.StringIO], logging.Handler]) -> float:
        @logs.labelled
        def attempt() -> float:
            logs.attempt("0123456789abcdef0123456789abcdef", "default", 1)
            return per_line(make(io.StringIO()), arguments.lines)

        return attempt()

    ways = {
        "text (logging.StreamHandler)": measured(lambda stream: logging.StreamHandler(stream)),
        "JSON, cloudtasks.cloud_logging": measured(lambda stream: CloudLoggingHandler(project_id="example-project", stream=stream)),
        "JSON by hand (json.dumps)": measured(lambda stream: _with(logging.StreamHandler(stream), ByHand())),
    }
    print(machine())
    print(f"importing cloudtasks.cloud_logging after Django and google-cloud-tasks: {import_seconds() * 1000:.0f} ms (least of 5)")
    print(table(["each line", "µs"], [[way, f"{seconds * 1e6:.1f}"] for way, seconds in ways.items()]))


def _with(handler: logging.Handler, formatter: logging.Formatter) -> logging.Handler:
    handler.setFormatter(formatter)
    return handler


if __name__ == "__main__":
    main()

"""Job executions at the database's connection limit: issue 14's measurement, reproduced.

    uv run python benchmarks/connection_limit.py [--executions 40] [--web-workers 16]
                          [--max-connections 50] [--task-seconds 20] [--variant both]

A PostgreSQL server allowing `--max-connections`, used by the app as an ordinary role (as
on Cloud SQL; tests/django/limited_postgresql.py); gunicorn with config/gunicorn.py and
`--web-workers` sync workers, each running an HTTP task (pushed as Cloud Tasks pushes,
with a locally signed token) that holds its worker, its connection and its lease
renewal's for the whole run; then `--executions` job executions (`manage.py run_task`,
each a job task that writes a row and runs `--task-seconds`) started at once: on Cloud
Run each has a machine of its own, here they share two CPUs and start over some
seconds, so the tasks run long enough that they all overlap. Two variants:

- unbounded: CLOUD_TASKS_QUEUES without max_running, so every execution connects at
  once, as every execution did before slots (run it on an earlier commit for "before");
- budgeted: max_running as the stack's connection budget allows beside those web workers
  (stacks/connection_budget.py); the other executions wait for a slot.

It prints, per variant: executions that exited 0 and that failed, tasks run (and run
twice), connections PostgreSQL refused, the peaks of the app's connections, of slots
held and of renewal connections, and the time until the last execution ended.
Everything runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "django_project")]
from cloudtasks.config import env  # noqa: E402  (after the path is set)

# What every Django process here (this one, the web server, the executions) starts with.
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "tests.django.subprocess_settings", env.SECRET_KEY: "benchmark-only",
    env.EMAIL_URL: "smtp://127.0.0.1:25", env.DEFAULT_FROM_EMAIL: "noreply@example.com",
})
import django  # noqa: E402

django.setup()

from cloudtasks.auth.local_signing import LocalSigner, task_binding  # noqa: E402
from cloudtasks.wire.payload import TaskPayload  # noqa: E402
from stacks.connection_budget import ConnectionBudget  # noqa: E402
from tests.django import limited_postgresql  # noqa: E402
from tests.django.backend_settings import invoker, queues_variable  # noqa: E402
from tests.django.job_execution import DEPLOYED, LOCATION, start_manage_py  # noqa: E402
from tests.django.loopback import free_port  # noqa: E402
from tests.django.web_process import WebProcess  # noqa: E402

TASK = "tests.django.taskapp.tasks.insert_then_sleep"
QUEUES = {"default": f"{LOCATION}/queues/worker", "long": f"{LOCATION}/queues/worker-long"}
LEASE = 3.0  # renewed every second, so every running task has its renewal connection
SLOT_WAIT = 600
WEB_HOLD_SECONDS = 600  # the web workers' tasks outlast the run; they are stopped with it
DONE_SECONDS = 600


@dataclass
class Result:
    variant: str
    max_running: int | None
    succeeded: int
    failed: int
    tasks_run: int
    tasks_run_twice: int
    refused: int
    peak_connections: int
    peak_slots: int
    peak_renewals: int
    seconds: float


def max_running_beside(web_workers: int, max_connections: int) -> int:
    """The most running executions the stack's budget allows beside one web instance."""
    running = 0
    while ConnectionBudget(1, web_workers, {"default": running + 1}).total <= max_connections:
        running += 1
    if not running:
        raise SystemExit(f"{max_connections} connections leave no room for an execution beside {web_workers} workers")
    return running


def push(url: str, signer: LocalSigner, task_id: str) -> None:
    """A push as Cloud Tasks makes it; returns when the handler answers (at the end of the run)."""
    body = TaskPayload(TASK, task_id, [task_id, WEB_HOLD_SECONDS], {}).encode()
    name = f"projects/p/locations/l/queues/q/tasks/{task_id}"
    token = signer.mint(audience=url, email=invoker("default"), task=task_binding(name, body))
    request = urllib.request.Request(url, body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-CloudTasks-TaskName": name,
    })
    try:
        urllib.request.urlopen(request, timeout=WEB_HOLD_SECONDS + 60).close()
    except OSError:
        pass  # the server was stopped under it, as intended


def run(variant: str, *, executions: int, web_workers: int, max_connections: int, task_seconds: float) -> Result:
    limited = limited_postgresql.start(max_connections)
    work = Path(tempfile.mkdtemp(prefix="benchmark-connection-limit-"))
    key_file = work / "key.pem"
    signer = LocalSigner()
    signer.write_key_file(key_file)
    max_running = max_running_beside(web_workers, max_connections) if variant == "budgeted" else None
    slots = {"max_running": max_running, "slot_wait": SLOT_WAIT} if max_running else {}
    common = {
        env.DATABASE_URL: limited.url, env.QUEUES: queues_variable(QUEUES, **slots), "TESTS_TASK_LEASE": str(LEASE),
    }
    port = free_port()
    handler_url = f"http://127.0.0.1:{port}/tasks/run/"
    web = WebProcess(port, {
        **common, env.DEBUG: "true", env.EMULATOR_HOST: "127.0.0.1:9", env.LOCAL_KEY_FILE: str(key_file),
        env.HANDLER_URL: handler_url,
    }, gunicorn_args=f"--workers {web_workers}")
    try:
        web.start()
        for index in range(web_workers):
            threading.Thread(target=push, args=(handler_url, signer, f"web-{index}"), daemon=True).start()
        wait_until(lambda: running_web_tasks(limited) == web_workers, f"{web_workers} web tasks to run")
        refused_before = limited.refusals()
        started = time.monotonic()
        with limited.watch() as peaks:
            processes = [
                start_manage_py("run_task", "--payload", TaskPayload(
                    TASK, f"job-{index}", [f"job-{index}", task_seconds], {}, backend="jobs", queue_name="default",
                ).encode().decode(), variables={**DEPLOYED, **common})
                for index in range(executions)
            ]
            codes = [process.wait(timeout=DONE_SECONDS) for process in processes]
        seconds = time.monotonic() - started
        for process in processes:
            process.communicate()
        with limited.admin() as connection:
            counts = [n for (n,) in connection.execute(
                "SELECT count(*) FROM taskapp_effect WHERE label LIKE 'job-%' GROUP BY label"
            ).fetchall()]
        return Result(
            variant, max_running, codes.count(0), executions - codes.count(0), len(counts),
            sum(1 for n in counts if n > 1), limited.refusals() - refused_before, peaks.connections,
            peaks.slots_held, peaks.renewal_connections, seconds,
        )
    finally:
        web.stop()
        limited_postgresql.stop(limited)


def running_web_tasks(limited: limited_postgresql.LimitedServer) -> int:
    with limited.admin() as connection:
        return connection.execute(
            "SELECT count(*) FROM cloudtasks_taskrecord WHERE id LIKE 'web-%' AND status = 'RUNNING'"
        ).fetchone()[0]


def wait_until(condition, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {seconds} s: {what}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=40)
    parser.add_argument("--web-workers", type=int, default=16)
    parser.add_argument("--max-connections", type=int, default=50)
    parser.add_argument("--task-seconds", type=float, default=20)
    parser.add_argument("--variant", choices=("unbounded", "budgeted", "both"), default="both")
    arguments = parser.parse_args()
    variants = ("unbounded", "budgeted") if arguments.variant == "both" else (arguments.variant,)
    print(f"max_connections {arguments.max_connections}, {arguments.web_workers} web workers each running "
          f"an HTTP task, {arguments.executions} job executions started at once ({arguments.task_seconds:g} s tasks)")
    print("| variant | max_running | exited 0 | failed | tasks run | run twice | refused | peak connections "
          "| peak slots | peak renewal connections | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for variant in variants:
        r = run(variant, executions=arguments.executions, web_workers=arguments.web_workers,
                max_connections=arguments.max_connections, task_seconds=arguments.task_seconds)
        print(f"| {r.variant} | {r.max_running or 'none'} | {r.succeeded} | {r.failed} | {r.tasks_run} | "
              f"{r.tasks_run_twice} | {r.refused} | {r.peak_connections} | {r.peak_slots} | {r.peak_renewals} | "
              f"{r.seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()

"""The soak's faults (benchmarks/soak.py), each injected once, at its time in the run.

- A gunicorn worker SIGKILLed mid-task: a task on the "long" queue (which no other task
  holds up meanwhile) writes, then works for a while on its first attempt; once it
  runs, its worker (the attempt's worker id names its pid) is killed. Expected: taken
  over once its lease expires, by the queue's next delivery: attempts [WorkerLost, ok].
- A job execution SIGKILLed mid-task: the same as a job task; its execution (the
  attempt's worker id names it) is killed. Expected: the execution's retry takes it over
  at once.
- PostgreSQL stopped (fast shutdown: sessions ended) for some seconds, then started
  again on its port and data, while such tasks run: an HTTP task and a job task that
  finish once it is back, and a job task that finishes while it is down.
- Each schedule that would not come due during the run (the hourly prune), fired once
  as it fires when due.

Imported once Django is set up (benchmarks/soak_system.py).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen

from django.tasks import TaskResultStatus

from cloudtasks.models import TaskRecord
from local_run.scheduler import Schedule
from soak_load import DEFAULT_QUEUE, HTTP_BACKEND, JOB_BACKEND, LONG_QUEUE
from soak_system import System
from tests.django.taskapp.tasks import soak_write

# Long enough to find the victim running, short enough not to hold its queue up for long.
VICTIM_SECONDS = 30.0
# After the victim starts: its write is made, and it works on.
KILL_AFTER_SECONDS = 2.0
# How long a victim may take to start: a job execution waits for a slot at most its
# queue's SLOT_WAIT (60 s on "default").
START_SECONDS = 120.0


class FaultNotInjected(RuntimeError):
    """What a fault needed did not happen (its victim never ran): it was not injected."""


def kill_web_worker_mid_task(system: System) -> str:
    task_id, worker = _start_victim("victim-web", LONG_QUEUE, HTTP_BACKEND)
    pid = int(worker.rpartition(":")[2])  # a pushed attempt's worker id: host:pid
    if _parent(pid) != system.web.process.pid:
        raise FaultNotInjected(f"the worker {worker} running {task_id} is not one of this soak's gunicorn's")
    os.kill(pid, signal.SIGKILL)
    return f"SIGKILL to gunicorn worker {pid} while it ran task {task_id} (victim-web)"


def kill_job_execution_mid_task(system: System) -> str:
    task_id, worker = _start_victim("victim-job", DEFAULT_QUEUE, JOB_BACKEND)
    process = _execution_process(system, worker)
    process.send_signal(signal.SIGKILL)
    return f"SIGKILL to job execution {worker} (pid {process.pid}) while it ran task {task_id} (victim-job)"


def restart_database(system: System, down_seconds: float, say: Callable[[str], None]) -> str:
    """While tasks run: an HTTP task and a job task that finish after PostgreSQL is back
    (victim-db-web, victim-db-job), and a job task that finishes while it is down, its
    execution's retries meeting it down too (victim-db-job-early)."""
    victims = [
        _start_victim("victim-db-web", LONG_QUEUE, HTTP_BACKEND),
        _start_victim("victim-db-job", DEFAULT_QUEUE, JOB_BACKEND),
        _start_victim("victim-db-job-early", DEFAULT_QUEUE, JOB_BACKEND, KILL_AFTER_SECONDS + down_seconds / 2),
    ]
    system.stop_database()
    say(f"PostgreSQL stopped while tasks {', '.join(task_id for task_id, _ in victims)} ran; "
        f"starting it again in {down_seconds:g} s")
    time.sleep(down_seconds)
    system.start_database_again()
    return f"PostgreSQL down for {down_seconds:g} s, then started again on its port and data"


def fire_schedule(system: System, schedule: Schedule) -> str:
    system.fire(schedule)
    return f"{schedule.name} fired: {' '.join(schedule.args)}"


def _start_victim(label: str, queue: str, backend: str, seconds: float = VICTIM_SECONDS) -> tuple[str, str]:
    """Enqueue a task that works `seconds` on its first attempt; its id, and the worker
    id of that attempt once it has run KILL_AFTER_SECONDS (its write made)."""
    result = soak_write.using(backend=backend, queue_name=queue).enqueue(label, first_attempt_seconds=seconds)
    return result.id, _running_worker(result.id)


def _execution_process(system: System, worker: str) -> Popen[bytes]:
    execution = worker.split("/", 1)[0]  # a job attempt's worker id: execution/task index/attempt
    process = system.supervisor.by_execution.get(execution)
    if process is None or process.poll() is not None:
        raise FaultNotInjected(f"execution {execution} has no running process here")
    return process


def _running_worker(task_id: str) -> str:
    """The worker id of the task's first attempt, once it has run for KILL_AFTER_SECONDS."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        found = TaskRecord.objects.filter(pk=task_id, status=TaskResultStatus.RUNNING).values_list("attempts", flat=True).first()
        if found:
            time.sleep(KILL_AFTER_SECONDS)
            return found[-1]["worker_id"]
        time.sleep(0.2)
    raise FaultNotInjected(f"task {task_id} did not start within {START_SECONDS:g} s")


def _parent(pid: int) -> int | None:
    """The parent process of `pid` (None if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # after "pid (name)": state, then the parent's pid

"""gunicorn's guard on the web service counts a request's time, not a worker's silence.

An instance billed by request (cpu_idle) has its CPU throttled between requests: its
arbiter and workers stand still, for minutes. When a request wakes it, no idle worker may
be killed for having been frozen; a request that runs past the timeout still is
(config/request_timeout.py). The web service runs as in production, gunicorn with
config/gunicorn.py, in a process group of its own (tests/django/web_process.py), with a
2 s request timeout; the freeze is SIGSTOP to that group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.tasks import TaskResultStatus

from cloudtasks.models import TaskRecord
from config.gunicorn import REQUEST_TIMEOUT_VARIABLE
from config.request_timeout import CAPACITY, RequestTimeout, seconds_from_environment
from tests.django.live import wait_for
from tests.django.taskapp import tasks
from tests.django.taskapp.models import Effect
from tests.django.test_worker_faults import LEASE, patient_emulator  # noqa: F401 (a fixture)
from tests.django.web_process import WebProcess, local_run_server

REQUEST_TIMEOUT = 2
FROZEN_SECONDS = 5  # longer than the timeout, as an idle instance is frozen for minutes


@pytest.fixture
def web(settings, database, transactional_db, patient_emulator, local_signing_key, tmp_path) -> Iterator[WebProcess]:
    """A local run's gunicorn with a 2 s lease and a 2 s request timeout, its log lines in web.log."""
    queue = patient_emulator.create_queue(paused=False)
    server = local_run_server(settings, database.url, patient_emulator, local_signing_key, queue,
                              TESTS_TASK_LEASE=str(LEASE), **{REQUEST_TIMEOUT_VARIABLE: str(REQUEST_TIMEOUT)})
    server.log = tmp_path / "web.log"
    server.start()
    yield server
    server.stop()
    patient_emulator.delete_queue(queue)


def workers(server: WebProcess) -> set[int]:
    """The pids of the arbiter's children (its workers), from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # exited meanwhile
                continue
            # Fields after the command's closing parenthesis: state, ppid, ...
            if int(stat.rsplit(")", 1)[1].split()[1]) == server.process.pid:
                children.add(int(entry.name))
    return children


def worker_timeouts(server: WebProcess) -> int:
    return server.log.read_text().count("WORKER TIMEOUT")


def test_an_instance_frozen_longer_than_the_timeout_serves_the_request_that_wakes_it(web):
    wait_for(lambda: len(workers(web)) == 2, "both workers to start")
    before = workers(web)

    os.killpg(web.process.pid, signal.SIGSTOP)  # CPU throttled: nothing of the instance runs
    time.sleep(FROZEN_SECONDS)
    # The arbiter gets CPU back first: the worst order for a guard that counts heartbeats.
    os.kill(web.process.pid, signal.SIGCONT)
    time.sleep(1.5)  # the arbiter checks its workers once a second
    os.killpg(web.process.pid, signal.SIGCONT)

    with urllib.request.urlopen(f"{web.url}/healthz", timeout=10) as response:
        assert response.status == 200
    time.sleep(1.5)  # a kill sent now would have been seen by the next check
    assert workers(web) == before
    assert worker_timeouts(web) == 0


def test_a_request_running_past_the_timeout_is_killed_and_its_worker_replaced(web):
    wait_for(lambda: len(workers(web)) == 2, "both workers to start")
    before = workers(web)
    result = tasks.insert_then_sleep_on_first_attempt.enqueue("stuck", 60)
    wait_for(lambda: TaskRecord.objects.get(pk=result.id).status == TaskResultStatus.RUNNING, "the task to start")
    started = time.monotonic()

    wait_for(lambda: len(before - workers(web)) == 1, "the stuck request's worker to be killed",
             seconds=REQUEST_TIMEOUT + 5)
    killed_after = time.monotonic() - started
    wait_for(lambda: len(workers(web)) == 2, "a new worker to replace it")

    assert REQUEST_TIMEOUT - 0.5 < killed_after < REQUEST_TIMEOUT + 3, killed_after
    assert worker_timeouts(web) == 1
    # The killed attempt's write died with its transaction; the next delivery runs the task.
    wait_for(lambda: TaskRecord.objects.get(pk=result.id).status == TaskResultStatus.SUCCESSFUL,
             "the task to be taken over and finish")
    assert Effect.objects.filter(label="stuck").count() == 1


@pytest.mark.parametrize("text", ["abc", "0", "-5", "nan", "inf", "540s"])
def test_a_request_timeout_that_is_not_a_positive_number_of_seconds_is_refused(monkeypatch, text):
    monkeypatch.setenv(REQUEST_TIMEOUT_VARIABLE, text)

    with pytest.raises(ValueError, match=f"{REQUEST_TIMEOUT_VARIABLE} must be a number of seconds above 0"):
        seconds_from_environment(REQUEST_TIMEOUT_VARIABLE, default=540)


def test_more_workers_than_the_slots_are_refused_before_one_is_forked():
    guard = RequestTimeout(540)
    for pid in range(1, CAPACITY + 1):
        guard.pre_fork(None, SimpleNamespace(pid=pid))

    with pytest.raises(RuntimeError, match=f"more than {CAPACITY} gunicorn workers at once"):
        guard.pre_fork(None, SimpleNamespace(pid=CAPACITY + 1))


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def critical(self, message: str, *args: object) -> None:
        self.lines.append(message % args)


def test_a_request_under_way_while_the_instance_stood_still_is_judged_by_the_time_it_ran():
    # A request that started before a 100 s freeze (or whose worker had not cleared its
    # start when the CPU was taken away): the freeze does not count, the time after does.
    guard = RequestTimeout(2)
    worker = SimpleNamespace(pid=None)
    guard.pre_fork(None, worker)
    sleeper = subprocess.Popen(["sleep", "30"])  # stands in for the worker: what the guard signals
    try:
        worker.pid = sleeper.pid
        guard.post_fork(None, worker)
        guard.pre_request(worker, None)
        now = time.monotonic()
        guard._starts[worker.request_slot] = now - 100
        guard._last_check = now - 100
        log = _Log()

        for _ in range(3):  # the thaw, then 1.8 s of running
            guard.check(log)
            guard._last_check -= 0.9
        assert sleeper.poll() is None and log.lines == []

        guard.check(log)  # 2.7 s of running: aborted
        assert sleeper.wait(timeout=5) == -signal.SIGABRT
        assert log.lines == [f"WORKER TIMEOUT (pid:{sleeper.pid}): its request ran more than 2s"]
    finally:
        sleeper.kill()
        sleeper.wait()

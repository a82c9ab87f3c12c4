"""A soak: the whole system under a steady mixed load, with faults, then drained and counted.

    uv run python benchmarks/soak.py [--minutes 30] [--rate 5] [--drain-minutes 20]
                                     [--database-down 15] [--duplicates 0.02] [--seed 1]

On 127.0.0.1 only (benchmarks/soak_system.py): a durable PostgreSQL (50 connections, the
app as an ordinary role), the Cloud Tasks emulator through the project's launcher with
the stack's queues and retry policies, local_run's jobs:run stand-in (executions of
`manage.py run_task` with the worker job's own args, retried up to its max_retries),
gunicorn with config/gunicorn.py serving the push handler, and the stack's schedules (the
outbox flush every minute, the prune every hour).

For `--minutes`, `--rate` tasks a second (soak_load.py): HTTP and job tasks on both
queues, each one write with a unique key in its transaction; 5% fail their first
attempt, 1% fail for good, 5% enqueue a child in their transaction, 5% are deferred a
few seconds; and `--duplicates` of them delivered twice (a push re-POSTed with its token,
a jobs:run call made again). Faults, once each, at times printed at the start
(soak_faults.py): a gunicorn worker SIGKILLed mid-task, a job execution SIGKILLed
mid-task, PostgreSQL stopped for `--database-down` seconds while tasks run and started
again, and the hourly prune fired if its time does not come during the run.

Then the load stops and the system drains, flushes still running, until every task has
finished or `--drain-minutes` have passed; and it counts (soak_counts.py) tasks enqueued,
SUCCESSFUL, FAILED (expected: exactly those designed to fail for good), still READY or
RUNNING (lost), each task's write (none missing for a successful task, none kept twice),
attempts, retries, takeovers (WorkerLost), duplicate deliveries and what they were
answered, the flush's work, and the app's peak connections. Progress prints every minute.

Exits 1 when anything was lost or duplicated (soak_counts.Counts.problems) or a fault
could not be injected; 0 otherwise. Stops by itself: at most `--minutes` plus
`--drain-minutes`, plus the start and the end (a minute or two). The run's logs stay in
the directory it prints.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import soak_system
from harness import machine, table

PROGRESS_SECONDS = 60
DRAIN_POLL_SECONDS = 5
# When each fault comes, as a share of the load's duration.
WEB_WORKER_KILL_AT, JOB_EXECUTION_KILL_AT, SCHEDULES_AT, DATABASE_RESTART_AT = 0.25, 0.40, 0.50, 0.60
LIMITS = {  # option: (lowest, highest): the machine is shared, and a run must end
    "minutes": (0.5, 24 * 60), "rate": (0.1, 50), "drain_minutes": (1, 120), "database_down": (1, 120),
    "duplicates": (0, 0.5),
}


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30, help="of load (default 30)")
    parser.add_argument("--rate", type=float, default=5, help="tasks enqueued a second (default 5)")
    parser.add_argument("--drain-minutes", type=float, default=20,
                        help="longest wait for every task to finish after the load (default 20: a task the "
                             "flush sends again waits out the emulator's retry window, 10.5 minutes)")
    parser.add_argument("--database-down", type=float, default=15, help="seconds PostgreSQL is down (default 15)")
    parser.add_argument("--duplicates", type=float, default=0.02,
                        help="share of the tasks delivered twice (default 0.02)")
    parser.add_argument("--seed", type=int, default=1, help="of the mix (default 1)")
    parsed = parser.parse_args(argv)
    for option, (lowest, highest) in LIMITS.items():
        value = getattr(parsed, option)
        if not lowest <= value <= highest:
            parser.error(f"--{option.replace('_', '-')} is {value:g}; it must be from {lowest:g} to {highest:g}")
    return parsed


def main() -> None:
    options = arguments()
    # SIGTERM ends the run as Ctrl-C does: everything it started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    run_dir = Path(tempfile.mkdtemp(prefix="soak-"))
    print(f"soak: {options.minutes:g} min of load at {options.rate:g} tasks/s, then a drain of at most "
          f"{options.drain_minutes:g} min; {machine()}; logs in {run_dir}", flush=True)
    with soak_system.running(run_dir) as system:
        sys.exit(Soak(system, options).run())


class Soak:
    def __init__(self, system: soak_system.System, options: argparse.Namespace) -> None:
        # They use Django's models: imported once soak_system has set Django up.
        import soak_counts
        import soak_faults
        import soak_load
        from cloudtasks.config.retry import read_retry

        self.counts, self.faults = soak_counts, soak_faults
        self.system = system
        self.options = options
        plan = system.plan
        windows = {q: read_retry(d["retry"]).retry_window().total_seconds() for q, d in plan.declared["queues"].items()}
        self.load = soak_load.Load(options.rate, soak_load.Mix(), options.seed, windows)
        self.duplicates = soak_load.Duplicates(
            plan.emulator_address, [plan.queue_path(q) for q in plan.queue_names],
            f"http://127.0.0.1:{plan.jobs_port}", options.duplicates, options.seed,
        )
        self.seconds = options.minutes * 60
        self.stopping = threading.Event()
        self.started = time.monotonic()
        self.fault_failures: list[str] = []
        self.thread_failures: list[tuple[str, BaseException]] = []

    def say(self, line: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"{int(elapsed // 60):02d}:{int(elapsed % 60):02d} {line}", flush=True)

    def fault_schedule(self) -> list[tuple[float, str, Callable[[], str]]]:
        faults, system = self.faults, self.system
        schedule = [
            (WEB_WORKER_KILL_AT, "SIGKILL a gunicorn worker mid-task", lambda: faults.kill_web_worker_mid_task(system)),
            (JOB_EXECUTION_KILL_AT, "SIGKILL a job execution mid-task",
             lambda: faults.kill_job_execution_mid_task(system)),
            (DATABASE_RESTART_AT, f"stop PostgreSQL for {self.options.database_down:g} s, then start it again",
             lambda: faults.restart_database(system, self.options.database_down, self.say)),
        ]
        ends = datetime.now(UTC) + timedelta(seconds=self.seconds)
        for due in [s for s in system.schedules if s.next_after(datetime.now(UTC)) > ends]:
            schedule.append((SCHEDULES_AT, f"fire schedule {due.name} ('{due.schedule}', not due during the run)",
                             lambda due=due: faults.fire_schedule(system, due)))
        return sorted((share * self.seconds, name, inject) for share, name, inject in schedule)

    def inject_faults(self, schedule: list[tuple[float, str, Callable[[], str]]]) -> None:
        for at, name, inject in schedule:
            if self.stopping.wait(max(0.0, self.started + at - time.monotonic())):
                return
            try:
                self.say(f"fault: {inject()}")
            except Exception as error:  # noqa: BLE001 (reported, and the run fails)
                self.fault_failures.append(f"{name}: {error}")
                self.say(f"fault NOT injected: {name}: {error}")

    def thread(self, name: str, target: Callable[..., None], *args: object) -> threading.Thread:
        """A thread of the run; should it fail, the run goes on, and fails at the end."""

        def guarded() -> None:
            try:
                target(*args)
            except BaseException as error:
                self.thread_failures.append((name, error))
                raise

        return threading.Thread(target=guarded, name=name)

    def run(self) -> int:
        schedule = self.fault_schedule()
        print("faults:", flush=True)
        for at, name, _ in schedule:
            print(f"  at {int(at // 60):02d}:{int(at % 60):02d}  {name}", flush=True)
        self.started = time.monotonic()
        threads = [
            self.thread("load", self.load.run, self.seconds, self.stopping),
            self.thread("duplicates", self.duplicates.run, self.seconds, self.stopping,
                        self.load.enqueued_by_backend.__getitem__),
            self.thread("faults", self.inject_faults, schedule),
        ]
        with self.system.database.watch(every=1.0) as peaks:
            try:
                for thread in threads:
                    thread.start()
                self.watch_until(self.started + self.seconds, "load")
                drain_started = time.monotonic()
                drained = self.watch_until(drain_started + self.options.drain_minutes * 60, "drain", until_drained=True)
                self.say(f"drain {'done' if drained else 'limit reached'} after {time.monotonic() - drain_started:.0f} s")
            finally:
                self.stopping.set()
                for thread in threads:
                    thread.join(timeout=120)
        counts = self.counts.count(
            self.load, self.system.processes_log.read_text(errors="replace"), len(self.system.jobs.executions)
        )
        self.report(counts, peaks.connections, self.system.database.refusals())
        problems = counts.problems() + [f"fault not injected: {failure}" for failure in self.fault_failures]
        problems += [f"the {name} thread failed: {error!r}" for name, error in self.thread_failures]
        for problem in problems:
            print(f"PROBLEM: {problem}", flush=True)
        return 1 if problems else 0

    def watch_until(self, deadline: float, phase: str, *, until_drained: bool = False) -> bool:
        """Print progress every minute until `deadline` (or, `until_drained`, until no task
        is left READY or RUNNING); whether it drained."""
        next_progress = time.monotonic() + PROGRESS_SECONDS
        while time.monotonic() < deadline:
            self.check_system()
            progress_due = time.monotonic() >= next_progress
            unfinished = self.unfinished() if until_drained or progress_due else None
            if until_drained and unfinished == 0:
                return True
            if progress_due:
                next_progress += PROGRESS_SECONDS
                self.say(f"{phase}: enqueued {len(self.load.enqueued)} (refused {len(self.load.refused)}), "
                         f"unfinished {'?' if unfinished is None else unfinished}, delivered again "
                         f"{self.duplicates.pushes} pushes and {self.duplicates.job_runs} jobs:run calls")
            time.sleep(DRAIN_POLL_SECONDS if until_drained else 1)
        return False

    def check_system(self) -> None:
        if self.system.supervisor.stopping.is_set():
            raise RuntimeError(f"the system stopped: {self.system.supervisor.reason}")
        if self.system.web.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {self.system.web.process.returncode}")

    def unfinished(self) -> int | None:
        """The soak's tasks READY or RUNNING now (None while the database is down)."""
        from django.db import Error, connection

        from cloudtasks.models import TaskRecord
        from tests.django.taskapp.tasks import soak_write

        for _ in range(2):  # the second on a new connection, if the first was the database's before a restart
            try:
                return TaskRecord.objects.filter(
                    task_path=soak_write.module_path, status__in=("READY", "RUNNING")
                ).count()
            except Error:
                connection.close()
        return None

    def report(self, counts, peak_connections: int, refused_connections: int) -> None:
        load = self.load
        answers = ", ".join(f"{answer}: {n}" for answer, n in sorted(self.duplicates.answers.items())) or "none"
        errors = ", ".join(f"{name} {n}" for name, n in counts.errors.most_common()) or "none"
        flushes = " ".join(f"{key}={n}" for key, n in counts.flush_totals.items())
        victims = "; ".join(f"{label}: [{', '.join(outcomes)}]" for label, outcomes in sorted(counts.victims.items()))
        rows = [
            ("tasks enqueued (records)", f"{counts.tasks} ({counts.job_tasks} job tasks, {counts.children} children, "
                                         f"{counts.deferred} deferred)"),
            ("enqueues refused (the database down)", f"{len(load.refused)}, of which committed all the same: "
                                                     f"{counts.refused_but_committed}"),
            ("SUCCESSFUL", counts.status["SUCCESSFUL"]),
            ("FAILED", f"{counts.status['FAILED']} (designed to fail for good: {counts.designed_to_fail})"),
            ("still READY or RUNNING (lost)", len(counts.lost)),
            ("writes missing of successful tasks", len(counts.missing_effects)),
            ("writes kept twice or more", len(counts.duplicated_effects)),
            ("writes kept of failed tasks", len(counts.effects_of_failed)),
            ("attempts", counts.attempts),
            ("retries (attempts after a task's first)", counts.retries),
            ("takeovers (WorkerLost)", counts.errors[self.counts.WORKER_LOST]),
            ("attempts' errors", errors),
            ("the killed tasks' attempts", victims or "none"),
            ("deliveries made twice", f"{self.duplicates.pushes} pushes, {self.duplicates.job_runs} jobs:run calls"),
            ("their answers", answers),
            ("job executions", f"{counts.executions}, of which found nothing due: {counts.executions_nothing_due}"),
            ("flush runs", f"{counts.flush_runs} ({flushes})"),
            ("app connections at most / refused at the limit", f"{peak_connections} / {refused_connections}"),
        ]
        print(table(("count", "value"), rows), flush=True)


if __name__ == "__main__":
    main()

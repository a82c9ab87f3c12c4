"""The system the soak (benchmarks/soak.py) runs against, every part on 127.0.0.1.

- PostgreSQL committing to disk, allowing the 50 connections docs/deploy.md budgets for,
  used by the app as an ordinary role, as on Cloud SQL (tests/django/limited_postgresql.py);
  stopped and started again on its port and data for one fault.
- The Cloud Tasks emulator through the project's launcher, with the stack's queues and
  their declared retry policies (local_run); its jobs:run calls go to local_run's stand-in,
  which starts `manage.py run_task` with the worker job's own args, as Cloud Run would,
  and retries a failed execution up to the job's max_retries.
- gunicorn with config/gunicorn.py serving the push handler, with a local run's settings
  (DEBUG on: tasks signed with a local key, as scripts/dev.sh signs them) on PostgreSQL,
  and CLOUD_TASKS_QUEUES as the stack sets it (local_run.plan).
- The stack's schedules, fired by local_run's scheduler: the outbox flush every minute,
  the prune every hour.

Django is set up in this process too, with the same settings: the load is enqueued here.
Every process the system starts is stopped with it; its logs stay in the run's directory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from subprocess import Popen

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "django_project")]

from cloudtasks.config import env  # noqa: E402  (after the path is set)
from cloudtasks.config.env import EXECUTION  # noqa: E402
from cloudtasks.auth.local_signing import LocalSigner  # noqa: E402
from config import gunicorn as gunicorn_config  # noqa: E402
from local_run.jobs import Jobs  # noqa: E402
from local_run.plan import LocalPlan, free_port  # noqa: E402
from local_run.processes import Supervisor  # noqa: E402
from local_run.scheduler import Schedule, Scheduler  # noqa: E402
from local_run.system import local_jobs, local_schedules, read_declared, start_emulator  # noqa: E402
from tests.django import limited_postgresql, postgresql_server  # noqa: E402
from tests.django.limited_postgresql import LimitedServer  # noqa: E402
from tests.django.web_process import WebProcess  # noqa: E402

# The tests' settings: the project's, plus the task app the soak's task is declared in.
SETTINGS = "tests.django.subprocess_settings"
# What docs/deploy.md sizes the stack's concurrency for (stacks/connection_budget.py).
MAX_CONNECTIONS = 50


class Executions(Supervisor):
    """local_run's supervisor, keeping the process of each job execution's latest attempt
    by the execution's name (CLOUD_RUN_EXECUTION), for a fault to kill."""

    def __init__(self, out) -> None:
        super().__init__(out)
        self.by_execution: dict[str, Popen[bytes]] = {}

    def start(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path | None = None,
              lasting: bool = False) -> Popen[bytes]:
        process = super().start(name, argv, env=env, cwd=cwd, lasting=lasting)
        if EXECUTION in env:
            self.by_execution[env[EXECUTION]] = process
        return process


@dataclass
class System:
    run_dir: Path  # the logs: processes.log (emulator, executions), web.log (gunicorn)
    database: LimitedServer
    plan: LocalPlan
    supervisor: Executions
    jobs: Jobs
    web: WebProcess
    schedules: list[Schedule]

    @property
    def processes_log(self) -> Path:
        return self.run_dir / "processes.log"

    def fire(self, schedule: Schedule) -> None:
        """Start an execution as `schedule` does when it comes due."""
        self.supervisor.say("scheduler", f"{schedule.name} fires: {' '.join(schedule.args)}")
        self.jobs.execute(self.jobs.job(schedule.job_path), schedule.args)

    def stop_database(self) -> None:
        postgresql_server.stop_keeping_data(self.database.server)

    def start_database_again(self) -> None:
        self.database = replace(self.database, server=postgresql_server.start_again(self.database.server))


def worker_command(declared: Sequence[str]) -> list[str]:
    """The stack's worker command as it runs here: with this Python, and the tests'
    settings, whose task app is found through PYTHONPATH (which the stack's -E ignores)."""
    command = [sys.executable if part == "python" else part for part in declared if part != "-E"]
    command[command.index("--settings") + 1] = SETTINGS
    return command


@contextmanager
def running(run_dir: Path) -> Iterator[System]:
    """The whole system, started, with Django set up in this process; stopped on leaving."""
    plan = LocalPlan(
        declared=read_declared(), web_port=free_port(), emulator_port=free_port(), jobs_port=free_port(), mail_port=0
    )
    key_file = run_dir / "signing-key.pem"
    environment = {
        **os.environ,
        **plan.django_environment(key_file=str(key_file), mail_url="console:"),
        env.ALLOWED_HOSTS: "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "PYTHONPATH": str(ROOT),
    }
    with (run_dir / "processes.log").open("a") as log:
        supervisor = Executions(log)
        database: LimitedServer | None = None
        system: System | None = None
        try:
            signer = LocalSigner()
            signer.write_key_file(key_file)
            os.environ.update(environment)  # the database's migrate reads them too
            database = limited_postgresql.start(MAX_CONNECTIONS, durable=True)
            environment[env.DATABASE_URL] = os.environ[env.DATABASE_URL] = database.url
            import django

            django.setup()
            jobs = local_jobs(plan, worker_command(plan.declared["worker_command"]), signer, supervisor, environment)
            jobs.serve(plan.jobs_port)
            start_emulator(supervisor, plan)
            # WebProcess asks for 2 workers unless told otherwise: the service runs config's.
            web = WebProcess(plan.web_port, environment, gunicorn_args=f"--workers {gunicorn_config.workers}",
                             log=run_dir / "web.log")
            system = System(run_dir, database, plan, supervisor, jobs, web, local_schedules(plan))
            web.start()
            Scheduler(system.schedules, system.fire, now=lambda: datetime.now(UTC), stopping=supervisor.stopping).start()
            yield system
        finally:
            _stop(system, supervisor, database)
            key_file.unlink(missing_ok=True)


def _stop(system: System | None, supervisor: Executions, database: LimitedServer | None) -> None:
    from django.apps import apps
    from django.db import connections

    supervisor.stop("the soak is over")  # the scheduler and the executions' retries stop
    if system is not None:
        system.web.stop()
        system.jobs.close()
        database = system.database  # as restarted
    supervisor.stop_all()
    if apps.ready:
        connections.close_all()
    if database is not None:
        limited_postgresql.stop(database)

"""`python -m local_run [--port N]` (what scripts/dev.sh runs): the whole system, here.

Starts, in order, each on 127.0.0.1: a mail sink, the local jobs:run, the Cloud Tasks
emulator, `migrate`, the Django development server (making the admin user, admin_user.py,
while it starts), the scheduler; prints what runs where, the admin's password included,
and a file a second shell sources to enqueue into the run (the variables the run's
Django processes get); then waits. Ctrl-C (SIGINT) or SIGTERM stops everything, and so does any part that dies.
Exits 0 when stopped by a signal, 1 when a part failed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cloudtasks.auth.local_signing import LocalSigner
from cloudtasks.local import emulator
from local_run import DJANGO_DIR, ROOT
from local_run.admin_user import USERNAME as ADMIN_USERNAME
from local_run.jobs import Job, Jobs
from local_run.mail_sink import MailSink
from local_run.plan import LocalPlan, free_port, port_is_free
from local_run.processes import Supervisor
from local_run.scheduler import InvalidSchedule, Schedule, Scheduler

DEFAULT_WEB_PORT = 8000
START_SECONDS = emulator.START_SECONDS


class PartFailed(Exception):
    """A part did not start; the message says which and why."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scripts/dev.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_WEB_PORT, help="port of the web server (default 8000)")
    port = parser.parse_args(argv).port

    supervisor = Supervisor()
    signal.signal(signal.SIGINT, lambda *_: supervisor.stop("interrupted"))
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stop("terminated"))
    run_dir = Path(tempfile.mkdtemp(prefix="local-run-"))  # private to this user (0700)
    try:
        run(supervisor, port, run_dir)
        supervisor.stopping.wait()
    except PartFailed as error:
        supervisor.stop(str(error))
    finally:
        supervisor.say("dev", f"stopping ({supervisor.reason})")
        supervisor.stop_all()
        shutil.rmtree(run_dir, ignore_errors=True)
        supervisor.say("dev", "stopped")
    sys.exit(0 if supervisor.reason in ("interrupted", "terminated") else 1)


def run(supervisor: Supervisor, web_port: int, run_dir: Path) -> None:
    if not port_is_free(web_port):
        raise PartFailed(f"port {web_port} on 127.0.0.1 is in use: stop what uses it, or pass --port N")
    plan = LocalPlan(
        declared=read_declared(), web_port=web_port, emulator_port=free_port(), jobs_port=free_port(), mail_port=free_port()
    )
    key_file = run_dir / "signing-key.pem"
    signer = LocalSigner()
    signer.write_key_file(key_file)

    mail = MailSink(plan.mail_port, lambda line: supervisor.say("mail", line))
    mail.start()
    environment = {**os.environ, **plan.django_environment(key_file=str(key_file), mail_url=mail.url)}
    second_shell = run_dir / "second-shell.sh"  # in the run's directory, which only this user may enter
    second_shell.write_text(plan.second_shell(key_file=str(key_file), mail_url=mail.url))
    jobs = local_jobs(plan, _local_command(plan.declared["worker_command"]), signer, supervisor, environment)
    jobs.serve(plan.jobs_port)
    start_emulator(supervisor, plan)
    if supervisor.run("migrate", [sys.executable, "manage.py", "migrate", "--noinput"], env=environment, cwd=DJANGO_DIR):
        raise PartFailed("migrate failed")
    supervisor.start(
        "web", [sys.executable, "manage.py", "runserver", f"127.0.0.1:{web_port}"],
        env=environment, cwd=DJANGO_DIR, lasting=True,
    )
    admin_password = _make_admin_user(supervisor, environment, run_dir)  # while the web server starts
    _wait_until(lambda: _answers(f"{plan.web_url}/healthz"), supervisor, "the web server to answer")

    try:
        schedules = local_schedules(plan)
    except InvalidSchedule as error:
        raise PartFailed(str(error)) from error

    def fire(schedule: Schedule) -> None:
        supervisor.say("scheduler", f"{schedule.name} fires: job {jobs.job(schedule.job_path).name} {' '.join(schedule.args)}")
        jobs.execute(jobs.job(schedule.job_path), schedule.args)

    Scheduler(schedules, fire, now=lambda: datetime.now(UTC), stopping=supervisor.stopping).start()
    _describe(supervisor, plan, mail.url, schedules, admin_password, second_shell)


def read_declared() -> dict:
    """The stack's declarations (local_run.declared), read in a process of their own."""
    looked = subprocess.run(
        [sys.executable, "-m", "local_run.declared"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if looked.returncode != 0:
        raise PartFailed(f"reading the app stack's declarations failed:\n{looked.stderr}")
    return json.loads(looked.stdout)


def local_jobs(
    plan: LocalPlan, command: list[str], signer: LocalSigner, supervisor: Supervisor, environment: dict[str, str]
) -> Jobs:
    """The worker job of each queue the stack declares, run as `command` with its own args."""
    return Jobs(
        [
            Job(plan.job_path(queue), plan.invoker_email(queue), command, declared["worker_args"],
                declared["job_max_retries"])
            for queue, declared in plan.declared["queues"].items()
        ],
        signer=signer, supervisor=supervisor, env=environment, cwd=DJANGO_DIR,
    )


def local_schedules(plan: LocalPlan) -> list[Schedule]:
    """The stack's schedules, each starting its queue's worker job (InvalidSchedule for
    one that Cloud Scheduler would refuse too)."""
    return [
        Schedule(s["name"], plan.job_path(s["queue"]), s["schedule"], s["time_zone"], s["args"])
        for s in plan.declared["schedules"]
    ]


def _local_command(command: list[str]) -> list[str]:
    # The image's `python` is the project's; here, the one this runs on.
    return [sys.executable, *command[1:]] if command[:1] == ["python"] else command


def _make_admin_user(supervisor: Supervisor, environment: dict[str, str], run_dir: Path) -> str | None:
    """A new password for the local admin user (admin_user.py), or None if it made none
    (it says why, under 'admin'): the run goes on without."""
    password = secrets.token_urlsafe(12)
    password_file = run_dir / "admin-password"  # in the run's directory, which only this user may enter
    password_file.write_text(password)
    made = supervisor.run("admin", [sys.executable, "-m", "local_run.admin_user", str(password_file)],
                          env=environment, cwd=ROOT)
    password_file.unlink()
    if supervisor.stopping.is_set():
        raise PartFailed(supervisor.reason)
    return password if made == 0 else None


def start_emulator(supervisor: Supervisor, plan: LocalPlan) -> None:
    config = emulator.launcher_config(
        plan.emulator_port,
        {plan.queue_path(queue): d["retry"] for queue, d in plan.declared["queues"].items()},
        run_api=f"http://127.0.0.1:{plan.jobs_port}",
    )
    try:
        process = emulator.start(
            plan.emulator_address, config, launch=lambda command: supervisor.start("emulator", command, env=os.environ),
            stop=supervisor.end, stopping=supervisor.stopping.is_set,
        )
    except emulator.EmulatorUnavailable as error:
        raise PartFailed(supervisor.reason if supervisor.stopping.is_set() else str(error)) from error
    supervisor.mark_lasting(process)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _wait_until(condition: Callable[[], bool], supervisor: Supervisor, what: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not condition():
        if supervisor.stopping.is_set():
            raise PartFailed(supervisor.reason)
        if time.monotonic() > deadline:
            raise PartFailed(f"gave up waiting for {what} after {START_SECONDS}s")
        time.sleep(0.2)


def _describe(
    supervisor: Supervisor, plan: LocalPlan, mail_url: str, schedules: list[Schedule], admin_password: str | None,
    second_shell: Path,
) -> None:
    say = lambda line: supervisor.say("dev", line)  # noqa: E731
    say(f"web        {plan.web_url}/  (Django's development server; the sign-up page)")
    if admin_password:
        say(f"admin      {plan.web_url}/admin/  user {ADMIN_USERNAME}, password {admin_password}  (the task records)")
    else:
        say(f"admin      {plan.web_url}/admin/  (no user made: see 'admin' above)")
    say(f"emulator   {plan.emulator_address}  (Cloud Tasks API; pushes to loopback only)")
    for queue, declared in plan.declared["queues"].items():
        say(f"  queue {plan.queue_path(queue)}  retry {declared['retry'] or 'Cloud Tasks defaults'}")
    say(f"jobs       http://127.0.0.1:{plan.jobs_port}  (stands in for jobs:run; executions run here)")
    say(f"mail       {mail_url}  (messages print under 'mail')")
    for schedule in schedules:
        say(f"schedule   {schedule.name}: '{schedule.schedule}' {schedule.time_zone} -> {' '.join(schedule.args)}")
    say(f"2nd shell  source {second_shell}  (then manage.py in django_project/ enqueues into this run)")
    say("Ready. Ctrl-C stops everything.")

"""scripts/dev.sh, as a person runs it: the whole system on this machine, then Ctrl-C.

One run of the script serves the module, in order: a sign-up in a real browser (the
welcome mail shows in the sink, the task finished), the welcome task's record in the
admin, signed in with the credentials the script printed (while the every-minute
schedule is still to fire), a job task run by an execution of its queue's worker job,
the project's periodic flush firing (recorded once), the attacks on a running
system (none runs a task), and last, SIGINT, after which no process of the run is left. Then another run, one of whose parts dies. The attack from another
host is in test_other_host.py.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from cloudtasks.auth.local_signing import LocalSigner, task_binding
from cloudtasks.wire.payload import TaskPayload
from tests.django.loopback import free_port
from tests.local_run import dev_system
from tests.local_run.dev_system import DevSystem

PASSWORD = "f1rst-program!"
WELCOME = r"^mail\s+\| Subject: Welcome$"
ADMIN = r"^dev\s+\| admin\s+(http://127\.0\.0\.1:\d+/admin/)  user (\S+), password (\S+)  "
HANDLER = "/tasks/run/"
# What an attacker would have run: the welcome mail again, to the person who signed up.
ATTACK = TaskPayload("accounts.tasks.send_welcome_email", "attack", [1], {}).encode()
EVENT_SECONDS = 30
ENQUEUE_JOB_TASK = (
    "from accounts.tasks import send_welcome_email; print(send_welcome_email.using(backend='jobs').enqueue(0).id)"
)
SCHEDULE_SECONDS = 75  # "* * * * *" fires within a minute


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[DevSystem]:
    started = dev_system.start(free_port(), dev_system.shell_environment(tmp_path_factory.mktemp("dev")))
    yield started
    dev_system.stop(started)


def test_a_person_signs_up_in_a_browser_and_the_welcome_mail_shows_in_the_sink(system, browser):
    browser.fill_form(
        f"{system.url}/accounts/signup/",
        username="ada", email="ada@example.com", password1=PASSWORD, password2=PASSWORD,
    )

    WebDriverWait(browser.driver, EVENT_SECONDS).until(lambda d: d.current_url.endswith("/accounts/signup/done/"))
    assert "welcome mail is on its way" in browser.driver.find_element(By.ID, "mail-on-its-way").text
    system.output.wait_for(WELCOME, EVENT_SECONDS)
    system.output.wait_for(r"^mail\s+\| To: ada@example.com$", EVENT_SECONDS)
    system.output.wait_for(r"^mail\s+\|   Hello ada, your account is ready\.$", EVENT_SECONDS)
    # The task finished, and its push was answered 200 on its first attempt.
    system.output.wait_for(r"^web\s+\| .*path=accounts\.tasks\.send_welcome_email state=SUCCESSFUL", EVENT_SECONDS)
    system.output.wait_for(r"^emulator\s+\| task \w+: attempt 1 answered 200$", EVENT_SECONDS)


def test_the_welcome_tasks_record_shows_in_the_admin_signed_in_with_the_printed_credentials(system, browser):
    [printed] = system.output.matching(ADMIN)
    admin_url, username, password = printed.groups()
    records = f"{admin_url}cloudtasks/taskrecord/"

    browser.fill_form(records, username=username, password=password)  # the admin asks to sign in first
    WebDriverWait(browser.driver, EVENT_SECONDS).until(lambda d: d.current_url == records)
    [welcome] = [row for row in browser.driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
                 if cell(row, "task_path") == "accounts.tasks.send_welcome_email"]
    status, attempts = cell(welcome, "status"), cell(welcome, "attempt_count")
    welcome.find_element(By.CSS_SELECTOR, ".field-id a").click()
    WebDriverWait(browser.driver, EVENT_SECONDS).until(lambda d: "/change/" in d.current_url)
    attempt_rows = browser.driver.find_elements(By.CSS_SELECTOR, ".field-attempt_log tr")

    assert (status, attempts) == ("Successful", "1")  # the label of SUCCESSFUL
    assert len(attempt_rows) == 2  # a header, and the one attempt


def cell(row, field: str) -> str:
    return row.find_element(By.CSS_SELECTOR, f".field-{field}").text


def test_a_job_task_runs_as_an_execution_of_its_queues_worker_job(system):
    # Enqueued as the web server would (its environment: the emulator, the signing key, the
    # database): welcoming a user who does not exist, so no mail goes out.
    [web] = [pid for pid, command in dev_system.children(system.process.pid).items() if "runserver" in command]
    enqueued = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", ENQUEUE_JOB_TASK],
        cwd=dev_system.ROOT / "django_project", env=dev_system.environment_of(web), capture_output=True, text=True,
        timeout=EVENT_SECONDS,
    )
    assert enqueued.returncode == 0, enqueued.stderr
    task_id = enqueued.stdout.strip()

    # Its jobs:run call (no overrides) started the job as defined: run_task --queue default.
    system.output.wait_for(rf"^emulator\s+\| task {task_id}: attempt 1 answered 200$", EVENT_SECONDS)
    system.output.wait_for(rf"^job djapp-default \| task {task_id} \(accounts\.tasks\.send_welcome_email\) succeeded$",
                           EVENT_SECONDS)


def test_the_projects_periodic_flush_fires_and_its_run_is_recorded_once(system):
    # Declared in django_project/config/periodic.py, fired as the stack's schedule is.
    system.output.wait_for(r"^scheduler\s+\| djapp-every-minute fires: job djapp-default --periodic every-minute$",
                           SCHEDULE_SECONDS)
    [ran] = system.output.wait_for(r"^job djapp-default \| task (\w+) \(cloudtasks\.tasks\.flush_outbox\) succeeded$",
                                   EVENT_SECONDS)
    # Its run is a task record, like any task's (the admin lists it).
    [web] = [pid for pid, command in dev_system.children(system.process.pid).items() if "runserver" in command]
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c",
         f"from cloudtasks.models import TaskRecord; r = TaskRecord.objects.get(pk={ran.group(1)!r}); "
         "print(r.task_path, r.status, len(r.attempts))"],
        cwd=dev_system.ROOT / "django_project", env=dev_system.environment_of(web), capture_output=True, text=True,
        timeout=EVENT_SECONDS,
    )
    assert shown.stdout.split() == ["cloudtasks.tasks.flush_outbox", "SUCCESSFUL", "1"], shown.stderr


def test_the_script_fires_each_of_the_projects_periodic_tasks_the_hourly_prune_too(system):
    # The scheduler keeps every schedule it lists; the prune's is due at half past the hour.
    system.output.wait_for(r"^dev\s+\| schedule\s+djapp-every-minute: '\* \* \* \* \*' UTC -> --periodic every-minute$",
                           EVENT_SECONDS)
    system.output.wait_for(r"^dev\s+\| schedule\s+djapp-prune-records: '30 \* \* \* \*' UTC -> --periodic prune-records$",
                           EVENT_SECONDS)


def test_a_second_shell_that_sources_the_printed_file_enqueues_into_the_running_system(system):
    [printed] = system.output.matching(r"^dev\s+\| 2nd shell\s+source (\S+)  ")
    script = printed.group(1)
    enqueue = "from cloudtasks.tasks import flush_outbox; print(flush_outbox.enqueue().id)"

    # A person's shell (tests/local_run/dev_system.py), with the file sourced.
    second = subprocess.run(
        ["bash", "-c", f"source {shlex.quote(script)} && exec {shlex.quote(sys.executable)} manage.py shell -c "
                       f"{shlex.quote(enqueue)}"],
        cwd=dev_system.ROOT / "django_project", env=system.environment, capture_output=True, text=True, timeout=120,
    )

    assert second.returncode == 0, second.stderr
    task_id = second.stdout.split()[-1]
    system.output.wait_for(rf"^web\s+\| Task id={task_id} path=cloudtasks\.tasks\.flush_outbox state=SUCCESSFUL$",
                           EVENT_SECONDS)


def test_every_part_listens_on_127_0_0_1_only(system):
    listening = dev_system.listening_addresses(dev_system.processes_with(system.marker))

    parts = {f"127.0.0.1:{system.port}", *(system.address(part) for part in ("emulator", "jobs", "mail"))}
    assert parts <= listening
    assert {address for address in listening if not address.startswith("127.0.0.1:")} == set()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def welcome_mails(system: DevSystem) -> int:
    return len(system.output.matching(WELCOME))


EMULATOR_PUSH = {"X-CloudTasks-QueueName": "projects/local/locations/local/queues/djapp-default",
                 "X-CloudTasks-TaskName": "attack"}
FORGED = {
    "no token": {},
    "a token of another key, bound to this very task": {
        "Authorization": "Bearer " + LocalSigner().mint(
            audience="http://127.0.0.1/tasks/run/", email="djapp-default-invoker@local-run.invalid",
            task=task_binding("attack", ATTACK),
        ),
    },
}


@pytest.mark.parametrize("headers", FORGED.values(), ids=FORGED.keys())
def test_a_push_crafted_on_this_machine_does_not_run(system, headers):
    before = welcome_mails(system)

    status = post(f"{system.url}{HANDLER}", ATTACK, {**EMULATOR_PUSH, **headers})

    assert status == 401
    assert welcome_mails(system) == before


def test_a_push_through_a_proxy_on_this_machine_does_not_run(system):
    before = welcome_mails(system)

    with forwarding_proxy(system.port) as proxy_port:
        status = post(f"http://127.0.0.1:{proxy_port}{HANDLER}", ATTACK, EMULATOR_PUSH)

    assert status == 401
    assert welcome_mails(system) == before


def test_a_task_created_directly_in_the_emulator_is_refused_at_each_push(system):
    before = welcome_mails(system)
    channel = grpc.insecure_channel(system.address("emulator"))
    client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    queue = "projects/local/locations/local/queues/djapp-default"

    created = client.create_task(parent=queue, task=tasks_v2.Task(
        name=f"{queue}/tasks/made-by-hand",
        http_request=tasks_v2.HttpRequest(url=f"{system.url}{HANDLER}", body=ATTACK, headers=EMULATOR_PUSH),
    ))

    system.output.wait_for(r"^emulator\s+\| task made-by-hand: attempt 1 answered 401; retry in 10\.0s$", EVENT_SECONDS)
    assert created.name.endswith("/made-by-hand")
    assert welcome_mails(system) == before
    channel.close()


def test_a_job_run_crafted_on_this_machine_starts_no_execution(system):
    executions = len(system.output.matching(r"^job djapp-default \| "))
    run = {"overrides": {"containerOverrides": [{"args": ["--payload", ATTACK.decode()]}]}}

    status = post(
        f"http://{system.address('jobs')}/v2/projects/local/locations/local/jobs/djapp-default:run",
        json.dumps(run).encode(), {"X-CloudTasks-TaskName": "attack"},
    )

    assert status == 401
    system.output.wait_for(r"^jobs\s+\| jobs:run .*: 401 refused", EVENT_SECONDS)
    assert len(system.output.matching(r"^job djapp-default \| ")) == executions


def test_ctrl_c_stops_every_process_of_the_run(system):
    status = system.interrupt()

    assert status == 0
    assert dev_system.processes_with(system.marker) == []
    system.output.wait_for(r"^dev\s+\| stopped$", 1)


def test_when_a_part_dies_everything_stops(tmp_path):
    started = dev_system.start(free_port(), dev_system.shell_environment(tmp_path))
    try:
        [web] = [pid for pid, command in dev_system.children(started.process.pid).items() if "runserver" in command]

        os.kill(web, signal.SIGKILL)  # the web server's own process; its reloading child lives on

        assert started.process.wait(timeout=EVENT_SECONDS) == 1
        assert dev_system.processes_with(started.marker) == []
        started.output.wait_for(r"^dev\s+\| stopping \(web exited with status -9\)$", 1)
    finally:
        dev_system.stop(started)


class forwarding_proxy:
    """A TCP proxy on 127.0.0.1 that forwards one connection to `port` (as an SSH tunnel
    or a local reverse proxy would): the server sees the request come from loopback."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._listener = socket.create_server(("127.0.0.1", 0))

    def __enter__(self) -> int:
        threading.Thread(target=self._forward_one, daemon=True).start()
        return self._listener.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self._listener.close()

    def _forward_one(self) -> None:
        client, _ = self._listener.accept()
        upstream = socket.create_connection(("127.0.0.1", self._target))
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass

"""The image serves: built as the Dockerfile builds it, run as its user with the app
read-only and the production settings, it passes `check --deploy`, migrates PostgreSQL
as the migrate job does, signs a person up through the web command, whose welcome task
runs and whose mail arrives, and serves the admin's static files itself. The jobs'
commands, as the stack deploys them, run no code their environment names.

There is no container engine here; tests/django/simulated_image.py says how the image
is reproduced instead. Requests carry the header Cloud Run's front end adds
(X-Forwarded-Proto: https), and the client keeps cookies, Secure ones included, as a
browser talking HTTPS to Cloud Run would.
"""

from __future__ import annotations

import http.client
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest

from cloudtasks.config import env
from tests.django import simulated_image
from tests.django.backend_settings import queues_variable
from tests.django.loopback import free_port

VENV_BIN = Path(sys.executable).parent
STARTUP_SECONDS = 30
LOCATION = "projects/example-project/locations/europe-west1"
# Cloud Run sends SIGTERM, then SIGKILL 10 s later: the server must be gone by then.
SHUTDOWN_WINDOW_SECONDS = 10
PASSWORD = "f1rst-program!"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class ProxiedClient:
    """HTTP to the container as Cloud Run's front end forwards a browser's HTTPS requests:
    X-Forwarded-Proto set, and cookies kept and sent back (Secure ones too)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies = SimpleCookie()

    def request(self, method: str, path: str, *, form: dict[str, str] | None = None, proxied: bool = True,
                headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, str]:
        headers = {"Cookie": "; ".join(f"{k}={m.value}" for k, m in self.cookies.items()), **(headers or {})}
        if proxied:
            headers["X-Forwarded-Proto"] = "https"
        body = None
        if form is not None:
            headers["Origin"] = f"https://127.0.0.1:{self.port}"  # as a browser sends with a form POST
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(form)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            self.cookies.load(header)
        return response, text


@pytest.fixture(scope="module")
def image():
    built = simulated_image.build()
    yield built
    simulated_image.remove_tree(built.root)


@pytest.fixture
def production(image, postgresql, smtp_server):
    """The environment the stack gives the service and its jobs, with a new database."""
    smtp_server.received.clear()
    return image.env(**{
        env.SECRET_KEY: secrets.token_urlsafe(50),
        env.ALLOWED_HOSTS: "127.0.0.1",
        env.DATABASE_URL: postgresql.create_database(f"image_{uuid.uuid4().hex[:12]}"),
        env.EMAIL_URL: smtp_server.url,
        env.DEFAULT_FROM_EMAIL: "noreply@example.com",
        env.QUEUES: queues_variable({name: f"{LOCATION}/queues/{name}" for name in ("default", "long")}),
        env.HANDLER_URL: "https://web.example.test/tasks/run/",
    })


def test_dockerfile_passes_hadolint():
    lint = subprocess.run(
        [VENV_BIN / "hadolint", simulated_image.DOCKERFILE], capture_output=True, text=True, timeout=60
    )

    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_images_user_cannot_write_the_app(image, production):
    wrote = image.run(["python", "-c", "open('written-at-run-time', 'w')"], production)

    assert wrote.returncode != 0
    assert "PermissionError" in wrote.stderr


def test_check_deploy_passes_with_the_production_environment(image, production):
    check = image.run(["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"], production)

    assert check.returncode == 0, check.stdout + check.stderr
    assert "System check identified no issues" in check.stdout


def test_the_web_command_signs_a_person_up_against_postgresql(image, production, postgresql, smtp_server,
                                                              tasks_emulator, paused_tasks_queue):
    port = free_port()
    served = {
        **production,
        # The emulator stands in for Cloud Tasks. With production settings nothing signs its
        # pushes (only a token Google signed is trusted): the test runs the task it holds
        # with the worker's command, in the image.
        env.EMULATOR_HOST: tasks_emulator.address,
        env.QUEUES: queues_variable({"default": paused_tasks_queue, "long": f"{LOCATION}/queues/long"}),
        env.HANDLER_URL: f"http://127.0.0.1:{port}/tasks/run/",
        # Cloud Run gives PORT and gunicorn binds 0.0.0.0:$PORT; here, loopback only.
        "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}",
    }
    migrated = image.run(["python", "manage.py", "migrate", "--noinput"], production)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    server = image.start(simulated_image.web_command(), served)
    try:
        client = ProxiedClient(port)
        wait_until_serving(client, server)

        insecure, _ = client.request("GET", "/accounts/signup/", proxied=False)
        page, html = client.request("GET", "/accounts/signup/")
        [token] = CSRF_FIELD.findall(html)
        signed_up, _ = client.request("POST", "/accounts/signup/", form={
            "username": "ada", "email": "ada@example.com", "password1": PASSWORD, "password2": PASSWORD,
            "csrfmiddlewaretoken": token,
        })
        [task] = tasks_emulator.list_tasks(paused_tasks_queue)
    finally:
        stopped_in = stop(server)
    ran = image.run(["python", "manage.py", "run_task", "--payload", task.http_request.body.decode()], served)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [welcome] = smtp_server.received.wait_for(1)

    assert (insecure.status, insecure.headers["Location"]) == (301, f"https://127.0.0.1:{port}/accounts/signup/")
    assert page.status == 200
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert client.cookies["csrftoken"]["secure"]
    assert (signed_up.status, signed_up.headers["Location"]) == (302, "/accounts/signup/done/")
    assert (welcome["To"], welcome["Subject"]) == ("ada@example.com", "Welcome")
    with postgresql.connect(production[env.DATABASE_URL].rsplit("/", 1)[1]) as connection:
        assert connection.execute("SELECT email FROM auth_user").fetchall() == [("ada@example.com",)]
    assert stopped_in < SHUTDOWN_WINDOW_SECONDS


def test_the_jobs_commands_run_no_code_their_environment_names_before_django_starts(image, production):
    """Where a job's env may be overridden (a schedule's caller may), each of these would
    import the standard library's antigravity, which opens a web browser: BROWSER's
    command, here one that leaves a file behind."""
    from stacks.app_stack import MIGRATE_COMMAND, QUEUES, WORKER_COMMAND  # the commands the stack deploys

    witness = image.root / f"witness-{uuid.uuid4().hex}"
    witness.mkdir()
    witness.chmod(0o777)  # the image's user may write here
    hostile = {
        **production,
        "PYTHONWARNINGS": "ignore::antigravity.Pwned",  # Python imports the category's module
        "DJANGO_SETTINGS_MODULE": "antigravity",
        "BROWSER": f"/bin/sh -c 'touch {witness}/ran' %s",
    }
    [default] = [queue for queue in QUEUES if queue.name == "default"]

    migrated = image.run(MIGRATE_COMMAND, hostile)
    worked = image.run([*WORKER_COMMAND, *default.worker_args], hostile)

    assert list(witness.iterdir()) == []
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert worked.returncode == 0, worked.stdout + worked.stderr
    assert worked.stdout == "nothing due on queue default (backend jobs): no job task waits for an execution\n"


def test_the_web_command_serves_the_admins_stylesheet(image, production):
    port = free_port()
    server = image.start(simulated_image.web_command(), {**production, "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}"})
    try:
        client = ProxiedClient(port)
        wait_until_serving(client, server)

        login, html = client.request("GET", "/admin/login/")
        # {% static %} names the file collected at build time, by its content's hash.
        [hashed_url] = re.findall(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', html)
        hashed, hashed_css = client.request("GET", hashed_url)
        plain, plain_css = client.request("GET", "/static/admin/css/base.css")
        compressed, _ = client.request("HEAD", hashed_url, headers={"Accept-Encoding": "gzip"})
        missing, _ = client.request("GET", "/static/admin/css/no-such-file.css")
    finally:
        stop(server)

    assert login.status == 200
    for response, css in ((hashed, hashed_css), (plain, plain_css)):
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/css; charset=\"utf-8\""
        assert "--body-fg" in css  # the admin's own stylesheet, not a page about it
    assert "immutable" in hashed.headers["Cache-Control"]  # a hashed name never changes
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert missing.status == 404


def wait_until_serving(client: ProxiedClient, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if client.request("GET", "/healthz", proxied=False)[0].status == 200:
                return
        except OSError:
            time.sleep(0.1)  # not listening yet
    server.kill()
    pytest.fail(f"the web command did not serve /healthz within {STARTUP_SECONDS}s:\n{server.communicate()[0]}")


def stop(server: subprocess.Popen[str]) -> float:
    """SIGTERM, as Cloud Run stops an instance; the seconds until the server exited."""
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=SHUTDOWN_WINDOW_SECONDS * 3)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    return time.monotonic() - started

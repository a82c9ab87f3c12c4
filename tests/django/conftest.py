"""Fixtures for the Django half: Django itself, its test database (PostgreSQL, and SQLite
for tests marked `both_databases`: see tests/django/databases.py), a Cloud Tasks
emulator and queues in it, and a fake Cloud Tasks server that fails on cue.

Django is configured here, not in pyproject.toml, so that tests/infra runs without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import django
import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from pytest_django.live_server_helper import LiveServer

from cloudtasks.auth.local_signing import LocalSigner
from cloudtasks.config import env
from config import mail
from tests.django import cloud_tasks_emulator, databases, postgresql_server
from tests.django.backend_settings import HANDLER_URL, queues_variable, tasks_setting
from tests.django.cloud_tasks_emulator import Emulator
from tests.django.databases import TestDatabase
from tests.django.fake_cloud_tasks import FakeCloudTasks, serve
from tests.django.postgresql_server import PostgresServer
from tests.django.project_settings import load_settings
from tests.django.smtp_server import Received, SmtpServer


def pytest_configure(config: pytest.Config) -> None:
    """Set Django up with config.settings, before any test module is imported."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault(env.SECRET_KEY, "tests-only-not-a-secret")
    # Production settings refuse to start without mail; tests replace the backend anyway.
    os.environ.setdefault(env.EMAIL_URL, "smtp://127.0.0.1:25")
    os.environ.setdefault(env.DEFAULT_FROM_EMAIL, "noreply@example.com")
    # pytest-django's live_server listens here: an address the emulator can push to.
    os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")
    from django.conf import settings

    # The tests' own apps: tasks that record, fail or flake, for the runner to run; tasks
    # the enqueue tests send.
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.django.taskapp", "tests.django.enqueued_tasks"]
    # Hashing passwords the production way costs ~0.7 s per sign-up; tests need no safety.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The live servers here speak plain HTTP. The production HTTPS settings are proven by
    # test_image.py, behind the proxy header Cloud Run sets.
    settings.SECURE_SSL_REDIRECT = settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    # Pages name static files as they are, since nothing is collected here (the manifest
    # storage refuses a name it has no hash for), and WhiteNoise has no STATIC_ROOT to
    # serve. The collected, hashed files are proven by test_image.py.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.STATIC_ROOT = None
    django.setup()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests that use the database run on PostgreSQL; marked ones on SQLite as well."""
    marked = metafunc.definition.get_closest_marker(databases.MARKER) is not None
    if "django_db_setup" not in metafunc.fixturenames:
        if marked:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid} is marked {databases.MARKER} but uses no database: "
                "ask for the db, transactional_db or live_server fixture"
            )
        return
    vendors = databases.BOTH if marked else (databases.POSTGRESQL,)
    metafunc.parametrize("database", vendors, indirect=True, scope="session")


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the tests' own, started once per session (see postgresql_server).

    `.url(name)` and `.create_database(name)` give databases for processes the tests start.
    """
    try:
        server = postgresql_server.start()
    except postgresql_server.PostgresUnavailable as error:
        pytest.fail(f"PostgreSQL: {error}", pytrace=False)
    yield server
    postgresql_server.stop(server)


@pytest.fixture(scope="session")
def database(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[TestDatabase]:
    """The database the current test runs on: its vendor, settings, and a URL for child
    processes. Parametrized by pytest_generate_tests; PostgreSQL when asked for directly."""
    vendor = getattr(request, "param", databases.POSTGRESQL)
    if vendor == databases.POSTGRESQL:
        server: PostgresServer = request.getfixturevalue("postgresql")
        chosen = databases.postgresql(server.url(databases.NAME))
    else:
        chosen = databases.sqlite(tmp_path_factory.mktemp("sqlite"))
    previous = settings.DATABASES["default"]
    databases.use(chosen.config)
    yield chosen
    databases.use(previous)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(database: TestDatabase) -> None:
    """pytest-django's hook to change the database settings before it creates the test
    database: here, only to make that creation wait for the `database` switch."""


@pytest.fixture(autouse=True, scope="session")
def _database_blocked_unless_requested(django_db_blocker) -> Iterator[None]:
    # pytest-django blocks the database for tests that do not ask for it, but only if
    # it set Django up itself; when pytest starts from the repository root, this
    # conftest is loaded after pytest-django looked, so block it here.
    django_db_blocker.block()
    yield
    django_db_blocker.restore()


@pytest.fixture(scope="session")
def tasks_emulator_max_retries() -> int:
    """How often the emulator retries a failed push before it drops the task.

    It retries about every 100 ms. Override this fixture to change it.
    """
    return 5


@pytest.fixture(scope="session")
def tasks_emulator(tasks_emulator_max_retries: int, tmp_path_factory) -> Iterator[Emulator]:
    """A Cloud Tasks emulator on a free 127.0.0.1 port, started once per session.

    Use `.address` as a backend's EMULATOR_HOST, `.client` to inspect it. It pushes
    each task to the URL the task carries. Fails the test with the emulator's output
    if it does not serve within a minute; stopped (process group and all) at the end.
    """
    log = tmp_path_factory.mktemp("tasks-emulator") / "emulator.log"
    try:
        emulator = cloud_tasks_emulator.start(max_retries=tasks_emulator_max_retries, log=log)
    except cloud_tasks_emulator.EmulatorFailed as error:
        pytest.fail(f"Cloud Tasks emulator: {error}", pytrace=False)
    yield emulator
    cloud_tasks_emulator.stop(emulator)


@pytest.fixture
def tasks_queue(tasks_emulator: Emulator) -> Iterator[str]:
    """A new running queue in the emulator (its path): tasks are pushed at once."""
    path = tasks_emulator.create_queue(paused=False)
    yield path
    tasks_emulator.delete_queue(path)


@pytest.fixture
def long_tasks_queue(tasks_emulator: Emulator) -> Iterator[str]:
    """Another new running queue in the emulator: the one queue "long" is routed to."""
    path = tasks_emulator.create_queue(paused=False)
    yield path
    tasks_emulator.delete_queue(path)


@pytest.fixture
def paused_tasks_queue(tasks_emulator: Emulator) -> Iterator[str]:
    """A new paused queue in the emulator (its path): tasks stay, for a test to list."""
    path = tasks_emulator.create_queue(paused=True)
    yield path
    tasks_emulator.delete_queue(path)


@pytest.fixture
def paused_queues(tasks_emulator: Emulator) -> Iterator[dict[str, str]]:
    """A new paused emulator queue for each queue name the project's settings accept
    ("default" and "long"), by name."""
    paths = {name: tasks_emulator.create_queue(paused=True) for name in ("default", "long")}
    yield paths
    for path in paths.values():
        tasks_emulator.delete_queue(path)


@pytest.fixture
def deployed(settings, transactional_db, tasks_emulator, paused_queues) -> dict[str, str]:
    """The environment a deployment sets, pointed at the emulator's `paused_queues`;
    TASKS loaded from it by config.settings."""
    variables = {
        env.QUEUES: queues_variable(paused_queues),
        env.HANDLER_URL: HANDLER_URL,
        env.EMULATOR_HOST: tasks_emulator.address,
    }
    settings.TASKS = load_settings(**variables)["TASKS"]
    return variables


@pytest.fixture(scope="session")
def _fake_cloud_tasks_server() -> Iterator[FakeCloudTasks]:
    fake = FakeCloudTasks()
    server = serve(fake)
    yield fake
    server.stop(grace=None)


@pytest.fixture
def fake_cloud_tasks(_fake_cloud_tasks_server: FakeCloudTasks) -> FakeCloudTasks:
    """A Cloud Tasks gRPC server on 127.0.0.1 that records CreateTask requests and
    answers them as its `script` says; emptied for each test."""
    _fake_cloud_tasks_server.reset()
    return _fake_cloud_tasks_server


@pytest.fixture(scope="session")
def local_signing_key(tmp_path_factory) -> Path:
    """A local signing key in a file private to this user, as scripts/dev.sh writes one."""
    path = tmp_path_factory.mktemp("local-signing") / "key.pem"
    LocalSigner().write_key_file(path)
    return path


@pytest.fixture(scope="session")
def google_like_keys() -> Iterator[str]:
    """tests.django.pushes.SIGNER's public key, published on loopback as Google publishes
    its own: the JWKS URL."""
    from tests.django.jwks_server import JwksServer
    from tests.django.pushes import SIGNER

    server = JwksServer(SIGNER)
    yield server.url
    server.close()


@pytest.fixture
def local_signing(settings, local_signing_key: Path) -> LocalSigner:
    """Settings that trust the local signing key (DEBUG on, as a local run has it); its signer."""
    settings.DEBUG = True
    settings.CLOUD_TASKS_AUTH = {**getattr(settings, "CLOUD_TASKS_AUTH", {}), "LOCAL_SIGNER": str(local_signing_key)}
    return LocalSigner.from_key_file(local_signing_key)


def local_run_variables(emulator_address: str, key_file: Path, **variables: str) -> dict[str, str]:
    """The environment of a local run's processes: DEBUG on, the emulator, the signing key."""
    return {env.DEBUG: "true", env.EMULATOR_HOST: emulator_address, env.LOCAL_KEY_FILE: str(key_file), **variables}


@pytest.fixture(scope="module")
def web_server() -> Iterator[LiveServer]:
    """pytest-django's live server, shared by a module."""
    with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "127.0.0.1"]):
        server = LiveServer("127.0.0.1:0")
        yield server
        server.stop()


@pytest.fixture
def local_run(
    settings, web_server, tasks_emulator, tasks_queue, long_tasks_queue, transactional_db, local_signing_key
) -> dict[str, str]:
    """Tasks and push authentication as the settings of a local run configure them.

    (Django touches the database at the start of every request the live server handles.)

    Queue "default" is `tasks_queue`, "long" is `long_tasks_queue`, both running: the
    emulator pushes their tasks to `web_server`. Returns the queue paths by name.
    """
    queues = {"default": tasks_queue, "long": long_tasks_queue}
    configure_local_run(settings, web_server.url, tasks_emulator.address, local_signing_key, queues)
    return queues


def configure_local_run(settings, server_url: str, emulator_address: str, key_file: Path,
                        queues: dict[str, str], retry: dict | None = None) -> None:
    """TASKS as a local run's settings make it: the emulator at
    `emulator_address` holds `queues` (by queue name), with the retry policy `retry`,
    and pushes to the server at `server_url`; tasks are signed with the key in `key_file`."""
    from tests.django.taskapp import tasks  # declares tasks: only once Django is set up

    local = load_settings(**local_run_variables(
        emulator_address, key_file,
        **{env.QUEUES: queues_variable(queues, retry), env.HANDLER_URL: server_url + reverse("cloudtasks:run")},
    ))
    settings.DEBUG = True
    settings.TASKS = local["TASKS"]
    del settings.CLOUD_TASKS_AUTH  # a local run's settings have none: the handler derives it from TASKS
    tasks.forget()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(settings, smtp_server: SmtpServer) -> Received:
    """What an SMTP server on loopback receives from this test on: the project's mailer
    is its real SMTP backend, pointed there (Django's tests otherwise keep mail in memory)."""
    settings.MAILERS = {"default": mail.mailer(smtp_server.url, variable="the tests' SMTP server")}
    smtp_server.received.clear()
    return smtp_server.received


@pytest.fixture
def run_job(database, transactional_db):
    """`manage.py run_task ARGS` in a process of its own, as a job execution runs it
    (tests/django/job_execution.py), on the test database. Returns the CompletedProcess."""
    from tests.django.job_execution import DEPLOYED, run_task

    def run(*args: str, variables=DEPLOYED):
        return run_task(*args, variables={**variables, env.DATABASE_URL: database.url})

    return run


@pytest.fixture
def job_execution_args(settings, fake_cloud_tasks, transactional_db):
    """The args Cloud Run gives the container of the execution a job-target task starts.

    Call it with a task and its arguments: the task is enqueued on the "jobs" backend
    (its record committed), to a fake Cloud Tasks that records the CreateTask request,
    whose body is the jobs:run request Cloud Tasks would make: the worker job as defined,
    whose own args run a due job task of the task's queue.
    """
    from tests.django.job_execution import execution_args

    settings.TASKS = tasks_setting(
        "projects/example-project/locations/europe-west1/queues/worker", emulator_host=fake_cloud_tasks.address
    )

    def enqueue(task, *args) -> list[str]:
        task.using(backend="jobs").enqueue(*args)
        [request] = fake_cloud_tasks.requests
        return execution_args(request.task.http_request, task.queue_name)

    return enqueue

"""The OPTIONS of a CloudTasksBackend, read and checked in one place.

Each django.tasks queue name the backend accepts is routed to a Cloud Tasks queue of
its own, with its own target:

    "OPTIONS": {
        "QUEUES": {
            "default": {"QUEUE_PATH": "projects/P/locations/L/queues/app-default"},
            "long": {
                "QUEUE_PATH": "projects/P/locations/L/queues/app-long",
                "SERVICE_ACCOUNT_EMAIL": "long-invoker@P.iam.gserviceaccount.com",
                # The queue's retry policy as its Cloud Tasks queue declares it (the
                # API's field names); a field left out is Cloud Tasks' default.
                "RETRY": {"max_attempts": 3, "min_backoff": "60s", "max_retry_duration": "3600s"},
                # Job executions (`manage.py run_task`) of this queue that may use the
                # database at once; one more waits for a slot, up to SLOT_WAIT seconds
                # (default 60), then exits without starting its task (cloudtasks/run/slots.py).
                # Default: no limit. PostgreSQL only.
                "MAX_RUNNING": 2,
                "SLOT_WAIT": 600,
            },
        },
        # Queue options given here apply to every queue that does not give its own.
        # Where a task goes: "http" (default) posts the payload to the push handler with
        # an OIDC token; "job" starts an execution of a Cloud Run job with an OAuth token.
        "TARGET": "http",
        "URL": "https://web.example.com/tasks/run/",  # http: the push handler
        "AUDIENCE": "https://web.example.com/tasks/run/",  # http: the token's aud; default URL
        # http: seconds Cloud Tasks waits for the handler's answer before it counts the
        # attempt as failed and retries (15-1800, default 600). The web service's request
        # timeout and gunicorn's worker timeout must agree with it (docs/deploy.md).
        "DISPATCH_DEADLINE": 600,
        # "JOB_PATH": "projects/P/locations/L/jobs/J",  # job: the job to run
        # "JOB_MAX_RETRIES": 3,  # job: the job's max_retries, to know a task's last attempt
        # job: seconds one attempt of the job's task may run (the job's task timeout;
        # default Cloud Run's maximum, 604800). Cloud Run stops an attempt then, so the
        # flush never gives up on a job task whose attempt may still be running before it.
        # "JOB_TIMEOUT": 600,
        # The identity Cloud Tasks mints the token for (both targets).
        "SERVICE_ACCOUNT_EMAIL": "invoker@P.iam.gserviceaccount.com",
        # Local runs: the emulator, on the loopback interface. Default: Google's API.
        "EMULATOR_HOST": "127.0.0.1:8123",
        # Local runs with EMULATOR_HOST only, DEBUG on: the file of the key that signs the
        # tasks this process creates, and that the push handler then trusts instead of
        # Google's (cloudtasks.auth.local_signing). `manage.py cloudtasks_emulator` writes it.
        "LOCAL_SIGNING_KEY": BASE_DIR / "cloudtasks-local-key.pem",
        # Seconds a web request (or a job execution's task) may spend in all sending the
        # tasks it enqueued, after its transaction commits (default 0.5; see send_budget.py).
        # What is not sent by then stays pending, and the next flush sends it.
        "SEND_BUDGET": 0.5,
        # Seconds the flush waits for one CreateTask call (default 10).
        "ATTEMPT_TIMEOUT": 10,
        # Seconds a running task's lease lasts (default 30). Its runner renews it while
        # the task runs; a runner that died loses it, and a later delivery takes the task
        # over (cloudtasks/run/lease.py).
        "LEASE": 30,
        # How long a finished task's record is kept: the prune (cloudtasks.operations.prune) deletes
        # SUCCESSFUL and FAILED records that finished longer ago. A timedelta, or seconds;
        # 31 days at least (the default), as long as Cloud Tasks may still deliver a task.
        "RETENTION": timedelta(days=90),
    }

A queue is QUEUE_PATH, or PROJECT, LOCATION and QUEUE (PROJECT and LOCATION may be
shared at the top level; QUEUE_PATH and QUEUE name one queue, so each queue gives its
own). Without QUEUES, the queue options at the top level describe the one queue
"default", as a single-queue backend is configured.

The backend accepts exactly the queue names QUEUES routes. An empty string counts as
not set, so settings can pass environment variables through unchanged. Every problem
is reported at once, by `manage.py check`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.tasks import DEFAULT_TASK_QUEUE_NAME

from cloudtasks.config.retry import TASK_RETENTION, InvalidRetry, RetryPolicy, read_retry

# Resource names, as the Cloud Tasks and Cloud Run APIs define them.
QUEUE_PATH = re.compile(r"projects/[^/]+/locations/[^/]+/queues/[A-Za-z0-9-]{1,100}")
JOB_PATH = re.compile(r"projects/[^/]+/locations/[^/]+/jobs/[^/]+")

TARGETS = ("http", "job")
# Half a second: a person barely notices it, and it covers a CreateTask on a cold
# channel (the first call of a new instance: connection, TLS, an access token) with
# room to spare, while a hung Cloud Tasks costs each request no more (docs/reliability.md).
DEFAULT_SEND_BUDGET = 0.5
DEFAULT_ATTEMPT_TIMEOUT = 10.0  # seconds; CreateTask normally answers in well under one
# Cloud Tasks' own default for HTTP tasks, and the interval it allows
# (https://cloud.google.com/tasks/docs/reference/rpc/google.cloud.tasks.v2#task).
DEFAULT_DISPATCH_DEADLINE = 600
DISPATCH_DEADLINE_RANGE = (15, 1800)
# Cloud Run's default for a job's max_retries (QueueWorker's too), and its range.
DEFAULT_JOB_MAX_RETRIES = 3
JOB_MAX_RETRIES_RANGE = (0, 10)
# Cloud Run's maximum task timeout, 168 hours, assumed when a job's own is not given: an
# attempt cannot run longer (https://cloud.google.com/run/docs/configuring/task-timeout).
MAX_JOB_TIMEOUT = 168 * 3600
DEFAULT_LEASE = 30.0
# A third of the default queue's job timeout in the app stack (180 s): an execution that
# waited its longest still has two thirds of its time for the task.
DEFAULT_SLOT_WAIT = 60.0

# Cloud Tasks deletes a task once it is 31 days old, delivered or not
# (https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues/create),
# so no delivery of a task can come later than that after it finished. One that came for a
# task whose record was gone would run it again (the runner adopts tasks it has no record
# of): records are kept at least that long.
MIN_RETENTION = DEFAULT_RETENTION = TASK_RETENTION
HTTP_ONLY = ("URL", "AUDIENCE", "DISPATCH_DEADLINE")
JOB_ONLY = ("JOB_PATH", "JOB_MAX_RETRIES", "JOB_TIMEOUT")
QUEUE_PARTS = ("PROJECT", "LOCATION", "QUEUE")
OWN_QUEUE = ("QUEUE_PATH", "QUEUE")  # name one queue: never shared by several
QUEUE_OPTIONS = (
    "QUEUE_PATH", *QUEUE_PARTS, "TARGET", *HTTP_ONLY, *JOB_ONLY, "SERVICE_ACCOUNT_EMAIL", "RETRY", "MAX_RUNNING",
    "SLOT_WAIT",
)
BACKEND_OPTIONS = (
    "QUEUES", "EMULATOR_HOST", "LOCAL_SIGNING_KEY", "SEND_BUDGET", "ATTEMPT_TIMEOUT", "LEASE", "RETENTION",
)


@dataclass(frozen=True)
class HttpTarget:
    url: str
    audience: str
    service_account_email: str
    dispatch_deadline: int = DEFAULT_DISPATCH_DEADLINE  # seconds


@dataclass(frozen=True)
class JobTarget:
    job_path: str
    service_account_email: str
    max_retries: int = DEFAULT_JOB_MAX_RETRIES  # the job's: its execution's last attempt is number max_retries + 1
    timeout: float = MAX_JOB_TIMEOUT  # seconds: the job's task timeout, which ends any attempt


@dataclass(frozen=True)
class QueueRoute:
    """Where the tasks of one django.tasks queue go, and how that queue retries them."""

    queue_path: str
    target: HttpTarget | JobTarget
    retry: RetryPolicy
    # Job executions of the queue that may use the database at once; None: no limit.
    max_running: int | None = None
    slot_wait: float = DEFAULT_SLOT_WAIT  # seconds an execution waits for a slot


@dataclass(frozen=True)
class BackendOptions:
    queues: Mapping[str, QueueRoute]  # by django.tasks queue name
    emulator_host: str | None = None
    local_signing_key: str | None = None  # a file's path
    send_budget: float = DEFAULT_SEND_BUDGET
    attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT
    lease: float = DEFAULT_LEASE
    retention: timedelta = DEFAULT_RETENTION  # of finished records


@dataclass(frozen=True)
class Problem:
    where: tuple[str, ...]  # the keys leading to the option within OPTIONS
    message: str  # completes a sentence that starts with the option

    @property
    def option(self) -> str:
        return self.where[-1]

    @property
    def location(self) -> str:
        return "".join(f"[{key!r}]" for key in self.where)


class InvalidOptions(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.location} {p.message}" for p in problems))


def read_options(raw: Mapping[str, Any]) -> BackendOptions:
    """The options `raw` describes; InvalidOptions lists everything wrong with them."""
    problems: list[Problem] = []
    options = _BackendReader(raw, problems).read()
    if problems:
        raise InvalidOptions(problems)
    return options


def queue_names(raw: Mapping[str, Any]) -> frozenset[str]:
    """The queue names options route, read even when other options are wrong: tasks are
    checked against them when they are declared, which must not wait for a deployment's
    settings to be complete."""
    queues = raw.get("QUEUES")
    if queues is None:
        return frozenset({DEFAULT_TASK_QUEUE_NAME})
    return frozenset(name for name in queues if isinstance(name, str)) if isinstance(queues, Mapping) else frozenset()


def require_loopback(address: str) -> str:
    """Return `address` ("host:port") if host is a loopback IP; raise ValueError otherwise
    (EMULATOR_HOST, and the settings that fill it)."""
    parts = urlsplit(f"//{address}")
    try:
        loopback = parts.port is not None and ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:  # not an IP address, or a port that is not a number
        loopback = False
    if not loopback:
        raise ValueError(
            f"{address!r} is not a loopback address with a port: the emulator speaks "
            f"insecure gRPC, so use an address like 127.0.0.1:8123"
        )
    return address


def _given(raw: Mapping[str, Any]) -> dict[str, Any]:
    # Empty means unset, so that an environment variable that is not set can be passed
    # through as "".
    return {key: value for key, value in raw.items() if value not in ("", None)}


class _BackendReader:
    def __init__(self, raw: Mapping[str, Any], problems: list[Problem]) -> None:
        self.given = _given(raw)
        self.problems = problems

    def problem(self, where: tuple[str, ...], message: str) -> None:
        self.problems.append(Problem(where, message))

    def read(self) -> BackendOptions:
        known = (*BACKEND_OPTIONS, *QUEUE_OPTIONS)
        for option in sorted(set(self.given) - set(known), key=str):
            self.problem((option,), f"is not an option; the options are {', '.join(sorted(known))}")
        shared = {key: value for key, value in self.given.items() if key in QUEUE_OPTIONS}
        emulator_host = self.emulator_host()
        return BackendOptions(
            queues=self.queues(shared),
            emulator_host=emulator_host,
            local_signing_key=self.local_signing_key(emulator_host),
            send_budget=self.seconds("SEND_BUDGET", DEFAULT_SEND_BUDGET),
            attempt_timeout=self.seconds("ATTEMPT_TIMEOUT", DEFAULT_ATTEMPT_TIMEOUT),
            lease=self.seconds("LEASE", DEFAULT_LEASE),
            retention=self.retention(),
        )

    def queues(self, shared: dict[str, Any]) -> dict[str, QueueRoute]:
        if "QUEUES" not in self.given:
            return {DEFAULT_TASK_QUEUE_NAME: _QueueReader(shared, (), self.problems).read()}
        queues = self.given["QUEUES"]
        if not isinstance(queues, Mapping) or not queues:
            self.problem(
                ("QUEUES",),
                f"is {queues!r}; it must map each queue name to that queue's options, "
                f"like {{'default': {{'QUEUE_PATH': 'projects/P/locations/L/queues/Q'}}}}",
            )
            return {}
        for option in OWN_QUEUE:
            if option in shared:
                self.problem(
                    (option,), "is set for every queue, but names one queue: give it in each queue of QUEUES"
                )
                del shared[option]
        routes = {}
        for name, own in queues.items():
            where = ("QUEUES", name)
            if not isinstance(name, str) or not name:
                self.problem(where, "is not a queue name; queue names are non-empty strings")
            elif not isinstance(own, Mapping):
                self.problem(where, f"is {own!r}; it must be a dict of that queue's options")
            else:
                routes[name] = self.queue(own, shared, where)
        return routes

    def queue(self, own: Mapping[str, Any], shared: Mapping[str, Any], where: tuple[str, ...]) -> QueueRoute:
        given = _given(own)
        for option in sorted(set(given) - set(QUEUE_OPTIONS), key=str):
            self.problem(
                (*where, option), f"is not an option of a queue; they are {', '.join(sorted(QUEUE_OPTIONS))}"
            )
        inherited = frozenset(shared) - frozenset(given)
        return _QueueReader({**shared, **given}, where, self.problems, inherited=inherited).read()

    def emulator_host(self) -> str | None:
        host = self.given.get("EMULATOR_HOST")
        if host is None:
            return None
        try:
            return require_loopback(str(host))
        except ValueError as error:
            self.problem(("EMULATOR_HOST",), f"is not usable: {error}")
            return None

    def local_signing_key(self, emulator_host: str | None) -> str | None:
        key = self.given.get("LOCAL_SIGNING_KEY")
        if key is None:
            return None
        if not isinstance(key, (str, os.PathLike)):
            self.problem(("LOCAL_SIGNING_KEY",), f"is {key!r}; it must be the path of a file")
            return None
        if emulator_host is None and "EMULATOR_HOST" not in self.given:
            self.problem(
                ("LOCAL_SIGNING_KEY",),
                "is set without EMULATOR_HOST: a local signing key is for local runs against the emulator only",
            )
            return None
        return os.fspath(key)

    def seconds(self, option: str, default: float) -> float:
        value = self.given.get(option, default)
        # bool is an int to Python, but True seconds is a mistake.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            self.problem((option,), f"is {value!r}; it must be a number of seconds, over 0")
            return default
        return float(value)


    def retention(self) -> timedelta:
        value = self.given.get("RETENTION", DEFAULT_RETENTION)
        retention = _duration(value)
        if retention is None or retention < MIN_RETENTION:
            self.problem(
                ("RETENTION",),
                f"is {value!r}; it must be a timedelta (or a number of seconds) of at least "
                f"{MIN_RETENTION.days} days: Cloud Tasks may deliver a task until then, and a delivery "
                f"of a task whose record was pruned would run it again",
            )
            return DEFAULT_RETENTION
        return retention


def _duration(value: object) -> timedelta | None:
    """A timedelta, or a number of seconds, as a timedelta; None if it is neither."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None  # True seconds is a mistake
    try:
        return timedelta(seconds=value)
    except (OverflowError, ValueError):  # infinite, NaN, or beyond timedelta's range
        return None


class _QueueReader:
    """Reads the options of one queue, found at `where` within OPTIONS."""

    def __init__(
        self, given: Mapping[str, Any], where: tuple[str, ...], problems: list[Problem],
        inherited: frozenset[str] = frozenset(),
    ) -> None:
        self.given = given
        self.where = where
        self.problems = problems
        self.inherited = inherited  # options given for every queue, not for this one

    def problem(self, option: str, message: str) -> None:
        self.problems.append(Problem((*self.where, option), message))

    def read(self) -> QueueRoute:
        queue_path = self.queue_path()
        target_kind = self.given.get("TARGET", "http")
        if target_kind not in TARGETS:
            self.problem("TARGET", f"is {target_kind!r}; it must be one of {', '.join(TARGETS)}")
        target = self.job_target() if target_kind == "job" else self.http_target()
        return QueueRoute(
            queue_path=queue_path, target=target, retry=self.retry(), max_running=self.max_running(),
            slot_wait=self.slot_wait(),
        )

    def queue_path(self) -> str:
        parts = [part for part in QUEUE_PARTS if part in self.given]
        if "QUEUE_PATH" in self.given:
            if parts:
                self.problem("QUEUE_PATH", f"is set, and so is {', '.join(parts)}: give one or the other")
            path = str(self.given["QUEUE_PATH"])
            option, described = "QUEUE_PATH", f"is {path!r}"
        elif parts:
            missing = [part for part in QUEUE_PARTS if part not in parts]
            for part in missing:
                self.problem(part, f"is not set, but {', '.join(parts)} is: give all three, or QUEUE_PATH")
            if missing:
                return ""
            path = "projects/{PROJECT}/locations/{LOCATION}/queues/{QUEUE}".format_map(self.given)
            option = "QUEUE"
            described = f"makes the queue path {path!r} (with PROJECT and LOCATION)"
        else:
            self.problem(
                "QUEUE_PATH",
                "is not set: give the queue as projects/P/locations/L/queues/Q, "
                "or as PROJECT, LOCATION and QUEUE",
            )
            return ""
        if not QUEUE_PATH.fullmatch(path):
            self.problem(
                option,
                f"{described}; it must look like projects/P/locations/L/queues/Q, "
                f"where Q is 1-100 letters, digits or hyphens",
            )
        return path

    def http_target(self) -> HttpTarget:
        self.not_for("http", JOB_ONLY)
        url = self.required("URL", "the push handler's URL, like https://web.example.com/tasks/run/")
        if url and not url.startswith(("https://", "http://")):
            self.problem("URL", f"is {url!r}; it must be an http:// or https:// URL")
        return HttpTarget(
            url=url,
            audience=str(self.given.get("AUDIENCE", url)),
            service_account_email=self.service_account_email(),
            dispatch_deadline=self.dispatch_deadline(),
        )

    def dispatch_deadline(self) -> int:
        value = self.given.get("DISPATCH_DEADLINE", DEFAULT_DISPATCH_DEADLINE)
        low, high = DISPATCH_DEADLINE_RANGE
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(
                "DISPATCH_DEADLINE", f"is {value!r}; it must be a whole number of seconds from {low} to {high}"
            )
            return DEFAULT_DISPATCH_DEADLINE
        return value

    def job_target(self) -> JobTarget:
        self.not_for("job", HTTP_ONLY)
        job_path = self.required("JOB_PATH", "the job to run, like projects/P/locations/L/jobs/J")
        if job_path and not JOB_PATH.fullmatch(job_path):
            self.problem("JOB_PATH", f"is {job_path!r}; it must look like projects/P/locations/L/jobs/J")
        return JobTarget(
            job_path=job_path, service_account_email=self.service_account_email(), max_retries=self.job_max_retries(),
            timeout=self.job_timeout(),
        )

    def job_max_retries(self) -> int:
        value = self.given.get("JOB_MAX_RETRIES", DEFAULT_JOB_MAX_RETRIES)
        low, high = JOB_MAX_RETRIES_RANGE
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem("JOB_MAX_RETRIES", f"is {value!r}; it must be a whole number from {low} to {high}, the job's max_retries")
            return DEFAULT_JOB_MAX_RETRIES
        return value

    def job_timeout(self) -> float:
        value = self.given.get("JOB_TIMEOUT", MAX_JOB_TIMEOUT)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_JOB_TIMEOUT:
            self.problem(
                "JOB_TIMEOUT",
                f"is {value!r}; it must be a number of seconds over 0 and at most {MAX_JOB_TIMEOUT} "
                f"(168 hours, Cloud Run's maximum), the job's task timeout",
            )
            return MAX_JOB_TIMEOUT
        return float(value)

    def service_account_email(self) -> str:
        email = self.required("SERVICE_ACCOUNT_EMAIL", "the service account Cloud Tasks mints the token for")
        if email and "@" not in email:
            self.problem("SERVICE_ACCOUNT_EMAIL", f"is {email!r}, which is not an email address")
        return email

    def max_running(self) -> int | None:
        value = self.given.get("MAX_RUNNING")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem(
                "MAX_RUNNING", f"is {value!r}; it must be a whole number, 1 or more (leave it out for no limit)"
            )
            return None
        return value

    def slot_wait(self) -> float:
        value = self.given.get("SLOT_WAIT", DEFAULT_SLOT_WAIT)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            self.problem("SLOT_WAIT", f"is {value!r}; it must be a number of seconds, 0 or more")
            return DEFAULT_SLOT_WAIT
        return float(value)

    def retry(self) -> RetryPolicy:
        declared = self.given.get("RETRY", {})
        if not isinstance(declared, Mapping):
            self.problem("RETRY", f"is {declared!r}; it must be a dict of the queue's RetryConfig fields")
            declared = {}
        try:
            return read_retry(declared)
        except InvalidRetry as error:
            for field, message in error.problems.items():
                self.problems.append(Problem((*self.where, "RETRY", field), message))
            return read_retry({})

    def required(self, option: str, what: str) -> str:
        if option not in self.given:
            self.problem(option, f"is not set: it must be {what}")
            return ""
        return str(self.given[option])

    def not_for(self, target: str, options: tuple[str, ...]) -> None:
        # An option given for every queue is for the queues whose target uses it.
        for option in options:
            if option in self.given and option not in self.inherited:
                self.problem(option, f"is set, but TARGET {target!r} does not use it")

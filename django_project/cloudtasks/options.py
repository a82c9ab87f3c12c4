"""The OPTIONS of a CloudTasksBackend, read and checked in one place.

    "OPTIONS": {
        # The queue: its full name, or PROJECT, LOCATION and QUEUE.
        "QUEUE_PATH": "projects/P/locations/L/queues/Q",
        # Where a task goes: "http" (default) posts the payload to the push handler with
        # an OIDC token; "job" starts an execution of a Cloud Run job with an OAuth token.
        "TARGET": "http",
        "URL": "https://web.example.com/tasks/run/",  # http: the push handler
        "AUDIENCE": "https://web.example.com/tasks/run/",  # http: the token's aud; default URL
        # http: seconds Cloud Tasks waits for the handler's answer before it counts the
        # attempt as failed and retries (15-1800, default 600). The web service's request
        # timeout and gunicorn's worker timeout must agree with it (docs/deploy.md).
        "DISPATCH_DEADLINE": 600,
        "JOB_PATH": "projects/P/locations/L/jobs/J",  # job: the job to run
        # The identity Cloud Tasks mints the token for (both targets).
        "SERVICE_ACCOUNT_EMAIL": "invoker@P.iam.gserviceaccount.com",
        # Local runs: the emulator, on the loopback interface. Default: Google's API.
        "EMULATOR_HOST": "127.0.0.1:8123",
        # CreateTask calls per enqueue when Cloud Tasks is briefly unavailable (default 4),
        # and the timeout of each call in seconds (default 10).
        "ENQUEUE_ATTEMPTS": 4,
        "ATTEMPT_TIMEOUT": 10,
    }

An empty string counts as not set, so settings can pass environment variables through
unchanged. Every problem is reported at once, by `manage.py check`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudtasks.client import require_loopback

# Resource names, as the Cloud Tasks and Cloud Run APIs define them.
QUEUE_PATH = re.compile(r"projects/[^/]+/locations/[^/]+/queues/[A-Za-z0-9-]{1,100}")
JOB_PATH = re.compile(r"projects/[^/]+/locations/[^/]+/jobs/[^/]+")

TARGETS = ("http", "job")
DEFAULT_ATTEMPTS = 4
DEFAULT_ATTEMPT_TIMEOUT = 10.0  # seconds; CreateTask normally answers in well under one
# Cloud Tasks' own default for HTTP tasks, and the interval it allows
# (https://cloud.google.com/tasks/docs/reference/rpc/google.cloud.tasks.v2#task).
DEFAULT_DISPATCH_DEADLINE = 600
DISPATCH_DEADLINE_RANGE = (15, 1800)
HTTP_ONLY = ("URL", "AUDIENCE", "DISPATCH_DEADLINE")
JOB_ONLY = ("JOB_PATH",)
QUEUE_PARTS = ("PROJECT", "LOCATION", "QUEUE")
KNOWN = frozenset(
    {"QUEUE_PATH", *QUEUE_PARTS, "TARGET", *HTTP_ONLY, *JOB_ONLY, "SERVICE_ACCOUNT_EMAIL",
     "EMULATOR_HOST", "ENQUEUE_ATTEMPTS", "ATTEMPT_TIMEOUT"}
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


@dataclass(frozen=True)
class BackendOptions:
    queue_path: str
    target: HttpTarget | JobTarget
    emulator_host: str | None = None
    enqueue_attempts: int = DEFAULT_ATTEMPTS
    attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT


@dataclass(frozen=True)
class Problem:
    option: str
    message: str  # completes a sentence that starts with the option's name


class InvalidOptions(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.option} {p.message}" for p in problems))


def read_options(raw: Mapping[str, Any]) -> BackendOptions:
    """The options `raw` describes; InvalidOptions lists everything wrong with them."""
    reader = _Reader(raw)
    options = reader.read()
    if reader.problems:
        raise InvalidOptions(reader.problems)
    return options


class _Reader:
    def __init__(self, raw: Mapping[str, Any]) -> None:
        # Empty means unset, so that an environment variable that is not set can be
        # passed through as "".
        self.given = {key: value for key, value in raw.items() if value not in ("", None)}
        self.problems: list[Problem] = []

    def read(self) -> BackendOptions:
        for option in sorted(set(self.given) - KNOWN):
            self.problem(
                option, f"is not an option; the options are {', '.join(sorted(KNOWN))}"
            )
        queue_path = self.queue_path()
        target_kind = self.given.get("TARGET", "http")
        if target_kind not in TARGETS:
            self.problem("TARGET", f"is {target_kind!r}; it must be one of {', '.join(TARGETS)}")
        target = self.job_target() if target_kind == "job" else self.http_target()
        return BackendOptions(
            queue_path=queue_path,
            target=target,
            emulator_host=self.emulator_host(),
            enqueue_attempts=self.attempts(),
            attempt_timeout=self.attempt_timeout(),
        )

    def problem(self, option: str, message: str) -> None:
        self.problems.append(Problem(option, message))

    def queue_path(self) -> str:
        parts = [part for part in QUEUE_PARTS if part in self.given]
        if "QUEUE_PATH" in self.given:
            if parts:
                self.problem(
                    "QUEUE_PATH", f"is set, and so is {', '.join(parts)}: give one or the other"
                )
            path = str(self.given["QUEUE_PATH"])
            option, described = "QUEUE_PATH", f"is {path!r}"
        elif parts:
            missing = [part for part in QUEUE_PARTS if part not in parts]
            for part in missing:
                self.problem(
                    part, f"is not set, but {', '.join(parts)} is: give all three, or QUEUE_PATH"
                )
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
        url = self.required(
            "URL", "the push handler's URL, like https://web.example.com/tasks/run/"
        )
        if url and not url.startswith(("https://", "http://")):
            self.problem("URL", f"is {url!r}; it must be an http:// or https:// URL")
        return HttpTarget(
            url=url,
            audience=str(self.given.get("AUDIENCE", url)),
            service_account_email=self.service_account_email(),
            dispatch_deadline=self.dispatch_deadline(),
        )

    def job_target(self) -> JobTarget:
        self.not_for("job", HTTP_ONLY)
        job_path = self.required("JOB_PATH", "the job to run, like projects/P/locations/L/jobs/J")
        if job_path and not JOB_PATH.fullmatch(job_path):
            self.problem(
                "JOB_PATH", f"is {job_path!r}; it must look like projects/P/locations/L/jobs/J"
            )
        return JobTarget(job_path=job_path, service_account_email=self.service_account_email())

    def service_account_email(self) -> str:
        email = self.required(
            "SERVICE_ACCOUNT_EMAIL", "the service account Cloud Tasks mints the token for"
        )
        if email and "@" not in email:
            self.problem("SERVICE_ACCOUNT_EMAIL", f"is {email!r}, which is not an email address")
        return email

    def emulator_host(self) -> str | None:
        host = self.given.get("EMULATOR_HOST")
        if host is None:
            return None
        try:
            return require_loopback(str(host))
        except ValueError as error:
            self.problem("EMULATOR_HOST", f"is not usable: {error}")
            return None

    def required(self, option: str, what: str) -> str:
        if option not in self.given:
            self.problem(option, f"is not set: it must be {what}")
            return ""
        return str(self.given[option])

    def not_for(self, target: str, options: tuple[str, ...]) -> None:
        for option in options:
            if option in self.given:
                self.problem(option, f"is set, but TARGET {target!r} does not use it")

    def attempts(self) -> int:
        value = self.given.get("ENQUEUE_ATTEMPTS", DEFAULT_ATTEMPTS)
        # bool is an int to Python, but True attempts is a mistake.
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem("ENQUEUE_ATTEMPTS", f"is {value!r}; it must be a whole number, 1 or more")
            return DEFAULT_ATTEMPTS
        return value

    def dispatch_deadline(self) -> int:
        value = self.given.get("DISPATCH_DEADLINE", DEFAULT_DISPATCH_DEADLINE)
        low, high = DISPATCH_DEADLINE_RANGE
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(
                "DISPATCH_DEADLINE", f"is {value!r}; it must be a whole number of seconds from {low} to {high}"
            )
            return DEFAULT_DISPATCH_DEADLINE
        return value

    def attempt_timeout(self) -> float:
        value = self.given.get("ATTEMPT_TIMEOUT", DEFAULT_ATTEMPT_TIMEOUT)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.problem("ATTEMPT_TIMEOUT", f"is {value!r}; it must be a number of seconds, over 0")
            return DEFAULT_ATTEMPT_TIMEOUT
        return float(value)

"""Settings, read from environment variables.

The infrastructure stack sets the variables on the web service and the jobs; their
names are in cloudtasks.config.env, and only read through it. Without DJANGO_DEBUG=true these
are production settings: a secret key, a mail server and a sender are required, and
HTTPS is enforced (Cloud Run terminates TLS in front of the container). With it, the
project runs locally: SQLite, mail printed to the console, and tasks refused by
`manage.py check` until a queue is configured (scripts/dev.sh points them at the
emulator).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cloudtasks import logs, queue_env
from cloudtasks.config import env
from cloudtasks.config.options import require_loopback
from config import mail
from config.periodic import PERIODIC

BASE_DIR = Path(__file__).resolve().parent.parent


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} is {value!r}; set it to true or false (or 1 or 0)")


def _list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _required(name: str, what: str, *, local_run: str) -> str:
    """The variable's value; if unset, `local_run` when debugging, else a clear error."""
    value = os.environ.get(name, "")
    if value:
        return value
    if DEBUG:
        return local_run
    raise ImproperlyConfigured(f"{name} is not set. Set it to {what} (or set {env.DEBUG}=true for a local run).")


DEBUG = _flag(env.DEBUG)

SECRET_KEY = _required(env.SECRET_KEY, "a long random string", local_run="django-insecure-local-only")

# With DEBUG on and this empty, Django allows localhost only.
ALLOWED_HOSTS = _list(env.ALLOWED_HOSTS)

INSTALLED_APPS = [
    "django.contrib.admin",  # task records (cloudtasks.admin), at /admin/
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "cloudtasks",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's CSS and JS) from STATIC_ROOT, which the image fills at
    # build time: gunicorn serves nothing by itself. Right after SecurityMiddleware, so
    # they get its headers and HTTPS redirect, and skip every other middleware.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL in production (DATABASE_URL from Secret Manager), SQLite locally. gunicorn's
# sync workers serve one request at a time (config/gunicorn.py), so each worker holds one
# connection, and a second while a task it runs renews its lease (cloudtasks/run/lease.py);
# a job execution the same, within its queue's slots (cloudtasks/run/slots.py). The stack
# checks that all of them fit the server's max_connections (docs/deploy.md). A connection
# is kept between requests and checked before reuse after a second idle (not between
# back-to-back requests: cloudtasks/postgresql), since Cloud Run throttles an idle
# instance's CPU and the server may have closed the connection meanwhile; it is
# replaced after 10 minutes, and closed when Cloud Run stops the instance. Not psycopg's
# pool: a process serves one request at a time, so a pool would hold the same one
# connection, and it cannot bound what many processes open together, which is what
# the server's limit is about.
DATABASES = {
    "default": dj_database_url.config(
        env=env.DATABASE_URL,
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=600,
        conn_health_checks=True,
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, which waits a moment if the server refuses a connection at its
    # connection limit, instead of failing the request (cloudtasks/postgresql).
    DATABASES["default"]["ENGINE"] = "cloudtasks.postgresql"
    # An unreachable database fails the request in seconds, not at the request deadline.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 10)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has no row locks: a transaction that takes the write lock when it begins
    # waits for another writer instead of failing when it first writes. Concurrent
    # outbox flushes count on it (cloudtasks/operations/flush.py).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True  # run_after must be aware, and Cloud Tasks schedules in UTC

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"  # filled by `collectstatic` in the Dockerfile
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic writes each file under a name with its content's hash, compressed
    # too, and a manifest that {% static %} reads: WhiteNoise serves those names with a
    # year's cache, as they never change. With DEBUG on, the plain names are served
    # from the apps' directories, nothing collected.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator", "MinimumLengthValidator",
        "CommonPasswordValidator", "NumericPasswordValidator",
    )
]

# Cloud Run terminates TLS in front of the container and says so in this header (it
# sets it on every request, so a client cannot pass its own).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = True
    # Cloud Run's probes reach the container directly, over plain HTTP. The push handler
    # is called by Cloud Tasks only, at the https URL the stack gives it; what it checks
    # is the token, and a redirected POST would lose the task (a local emulator pushes
    # over plain HTTP).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^tasks/run/$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # A year, subdomains and preload: *.run.app is under .app, whose every name browsers
    # already reach over HTTPS only (the whole TLD is on their preload list). A custom
    # domain joins the list only if you submit it (hstspreload.org).
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Mail: an SMTP server from DJANGO_EMAIL_URL (config/mail.py); the console only locally.
MAILERS = {
    "default": mail.mailer(
        _required(env.EMAIL_URL, "your mail server, like smtp+starttls://USER:PASSWORD@HOST:587", local_run="console:"),
        variable=env.EMAIL_URL,
    )
}
DEFAULT_FROM_EMAIL = _required(
    env.DEFAULT_FROM_EMAIL, "the address mail is sent from, like noreply@example.com", local_run="webmaster@localhost"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Cloud Run collects what containers write to stdout and stderr. Locally, text lines;
# on Cloud Run (the stack sets DJANGO_LOG_FORMAT=json and GOOGLE_CLOUD_PROJECT), one JSON
# object a line, with its severity, its request's trace and the task it is about
# (cloudtasks.logs), gunicorn's lines too.
def _log_format() -> str:
    value = os.environ.get(env.LOG_FORMAT, "").strip().lower() or "text"
    if value not in ("text", "json"):
        raise ImproperlyConfigured(f"{env.LOG_FORMAT} is {value!r}; set it to text or json (JSON lines for Cloud Logging)")
    return value


if _log_format() == "json":
    _project = os.environ.get(env.PROJECT, "")
    if not _project:
        raise ImproperlyConfigured(
            f"{env.LOG_FORMAT} is json but {env.PROJECT} is not set. Set it to the Google Cloud project id "
            "whose traces the log lines link to."
        )
    try:
        LOGGING = logs.logging_config(cloud_logging_project=_project)
    except ValueError as error:
        raise ImproperlyConfigured(f"{env.PROJECT}: {error}") from error
    MIDDLEWARE.insert(0, logs.REQUEST_MIDDLEWARE)  # first: lines of the other middleware have the trace too
else:
    LOGGING = logs.logging_config(cloud_logging_project=None)


# ---- Background tasks: django.tasks on Cloud Tasks (cloudtasks.backend) ------------
# Every option is documented in cloudtasks/config/options.py; `manage.py check` reports any
# that is missing or wrong, by its place in TASKS. Where each comes from here:
#   each queue's QUEUE_PATH, SERVICE_ACCOUNT_EMAIL, JOB_PATH, JOB_MAX_RETRIES, RETRY:
#       CLOUD_TASKS_QUEUES (its queue_path, invoker_email, job_path, job_max_retries, retry)
#   URL: CLOUD_TASKS_HANDLER_URL; AUDIENCE: CLOUD_TASKS_OIDC_AUDIENCE (default the URL)
#   EMULATOR_HOST: CLOUD_TASKS_EMULATOR_HOST; LOCAL_SIGNING_KEY: CLOUD_TASKS_LOCAL_KEY_FILE
# The push handler accepts the invoker email and audience of each queue (cloudtasks.auth.accepted).

# The queue names tasks are enqueued on (`@task(queue_name=...)`, `using(queue_name=...)`):
# short work by default, and work that may take long. The stack makes a Cloud Tasks queue
# for each, with its own retry policy and rate limits, and describes them all in
# CLOUD_TASKS_QUEUES (format: cloudtasks.queue_env).
TASK_QUEUES = ("default", "long")
_QUEUES = queue_env.read(os.environ.get(env.QUEUES, ""))

_EMULATOR_HOST = os.environ.get(env.EMULATOR_HOST, "")
_HANDLER_URL = os.environ.get(env.HANDLER_URL, "")
# The handler checks the same audience the enqueuing side asks Google to put in tokens.
_OIDC_AUDIENCE = os.environ.get(env.OIDC_AUDIENCE, "") or _HANDLER_URL



# ---- Local runs: the emulator, and the key that signs the tasks it is given ---------
def _local_signing_key() -> str:
    """The local signing key's file when this is a local run, else "".

    The emulator pushes without a token, so a local run signs the tasks it creates with
    a key of its own (cloudtasks.auth.local_signing). That happens only on a developer's machine:
    with DEBUG on, the emulator on loopback, and the key file scripts/dev.sh made. With
    DEBUG off, tasks may go to an emulator but nothing signs them: every push needs a
    token Google signed.
    """
    key_file = os.environ.get(env.LOCAL_KEY_FILE, "")
    if not _EMULATOR_HOST:
        if key_file:
            raise ImproperlyConfigured(
                f"{env.LOCAL_KEY_FILE} is set without {env.EMULATOR_HOST}: the local signing key is "
                "for local runs with the emulator only. Unset it."
            )
        return ""
    # Cloud Run sets K_SERVICE on services and CLOUD_RUN_JOB on jobs.
    on_cloud_run = os.environ.get("K_SERVICE") or os.environ.get("CLOUD_RUN_JOB")
    if on_cloud_run:
        raise ImproperlyConfigured(
            f"{env.EMULATOR_HOST} is set on Cloud Run ({on_cloud_run}); it is for local runs "
            "with the emulator only. Unset it."
        )
    try:
        require_loopback(_EMULATOR_HOST)
    except ValueError as error:
        raise ImproperlyConfigured(f"{env.EMULATOR_HOST}: {error}") from error
    if key_file and not DEBUG:
        raise ImproperlyConfigured(
            f"{env.LOCAL_KEY_FILE} is set but {env.DEBUG} is not true: local signing is for local "
            f"runs only. Unset {env.LOCAL_KEY_FILE}, or run locally with scripts/dev.sh."
        )
    if DEBUG and not key_file:
        raise ImproperlyConfigured(
            f"{env.EMULATOR_HOST} is set but {env.LOCAL_KEY_FILE} is not: a local run signs its "
            "tasks with a key file of its own. scripts/dev.sh makes one and sets both."
        )
    return key_file


_LOCAL = {"EMULATOR_HOST": _EMULATOR_HOST, "LOCAL_SIGNING_KEY": _local_signing_key()}

# The periodic tasks, in a module the app stack reads without Django (config/periodic.py).
CLOUD_TASKS_PERIODIC = PERIODIC

_BACKEND = "cloudtasks.backend.CloudTasksBackend"
TASKS = {
    # Pushed over HTTP to this service's handler, with an OIDC token.
    "default": {
        "BACKEND": _BACKEND,
        "OPTIONS": {
            "QUEUES": queue_env.backend_queues(_QUEUES, TASK_QUEUES, target="http"),
            "TARGET": "http", "URL": _HANDLER_URL, "AUDIENCE": _OIDC_AUDIENCE,
            **_LOCAL,
        },
    },
    # One execution of the queue's worker job each (`@task(backend="jobs")`).
    "jobs": {
        "BACKEND": _BACKEND,
        "OPTIONS": {
            "QUEUES": queue_env.backend_queues(_QUEUES, TASK_QUEUES, target="job"),
            "TARGET": "job",
            **_LOCAL,
        },
    },
}

"""Settings, read from environment variables.

The infrastructure stack sets the variables on the web service and the worker job;
their names are in cloudtasks.env, and only read through it. Unset, the project runs
locally: SQLite, and tasks refused by `manage.py check` until a queue is configured
(CLOUD_TASKS_EMULATOR_HOST and CLOUD_TASKS_QUEUES point it at the emulator).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cloudtasks import env, queue_env

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


DEBUG = _flag(env.DEBUG)

SECRET_KEY = os.environ.get(env.SECRET_KEY, "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            f"{env.SECRET_KEY} is not set. Set it to a long random string "
            f"(or set {env.DEBUG}=true for a local run with a throwaway key)."
        )
    SECRET_KEY = "django-insecure-local-only"

# With DEBUG on and this empty, Django allows localhost only.
ALLOWED_HOSTS = _list(env.ALLOWED_HOSTS)

INSTALLED_APPS = [
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

DATABASES = {
    "default": dj_database_url.config(
        env=env.DATABASE_URL,
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=600,
        conn_health_checks=True,
    ),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True  # run_after must be aware, and Cloud Tasks schedules in UTC

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Cloud Run terminates TLS in front of the container and says so in this header.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Mail goes to the log until a deployment configures a real backend.
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}

# Cloud Run collects what containers write to stdout and stderr.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}


# ---- Background tasks: django.tasks on Cloud Tasks (cloudtasks.backend) ------------
# Every option is documented in cloudtasks/options.py; `manage.py check` reports any
# that is missing, naming the environment variable it comes from here.

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

_BACKEND = "cloudtasks.backend.CloudTasksBackend"
TASKS = {
    # Pushed over HTTP to this service's handler, with an OIDC token.
    "default": {
        "BACKEND": _BACKEND,
        "OPTIONS": {
            "QUEUES": queue_env.backend_queues(_QUEUES, TASK_QUEUES, target="http"),
            "TARGET": "http", "URL": _HANDLER_URL, "AUDIENCE": _OIDC_AUDIENCE,
            "EMULATOR_HOST": _EMULATOR_HOST,
        },
    },
    # One execution of the queue's worker job each (`@task(backend="jobs")`).
    "jobs": {
        "BACKEND": _BACKEND,
        "OPTIONS": {
            "QUEUES": queue_env.backend_queues(_QUEUES, TASK_QUEUES, target="job"),
            "TARGET": "job",
            "EMULATOR_HOST": _EMULATOR_HOST,
        },
    },
}


# ---- Run side: who may push tasks (cloudtasks.auth; owned by the run side) ---------
CLOUD_TASKS_AUTH = {
    "AUDIENCE": _OIDC_AUDIENCE,
    # Each queue pushes with its own invoker identity.
    "INVOKER_EMAILS": queue_env.invoker_emails(_QUEUES),
    # The emulator pushes without a token: locally, a key of this process stands in
    # for Google's, and the middleware signs what the emulator pushes.
    "LOCAL_SIGNER": bool(_EMULATOR_HOST),
}
if _EMULATOR_HOST:
    # Cloud Run sets K_SERVICE on services and CLOUD_RUN_JOB on jobs: an emulator
    # setting that reached a deployment would make the handler sign its own pushes.
    _on_cloud_run = os.environ.get("K_SERVICE") or os.environ.get("CLOUD_RUN_JOB")
    if _on_cloud_run:
        raise ImproperlyConfigured(
            f"{env.EMULATOR_HOST} is set on Cloud Run ({_on_cloud_run}); it is for local runs "
            "with the emulator only. Unset it."
        )
    MIDDLEWARE.insert(0, "cloudtasks.local_auth.SignEmulatorPushes")

"""django-tasks-db's settings for benchmarks/throughput.py: its DatabaseBackend, the
benchmark's task app, the same PostgreSQL (DATABASE_URL, another database), persistent
connections as this project's settings have them."""

import os
from urllib.parse import urlsplit

_url = urlsplit(os.environ["DATABASE_URL"])
SECRET_KEY = "benchmark-only"
USE_TZ = True
INSTALLED_APPS = ["django_tasks_db", "benchmarks.throughput_app"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": _url.path.lstrip("/"), "USER": _url.username,
        "PASSWORD": _url.password, "HOST": _url.hostname, "PORT": _url.port,
        "CONN_MAX_AGE": 600, "CONN_HEALTH_CHECKS": True,
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# "hold": where the benchmark fills tasks before it hands them to the workers at once.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "hold"]}}

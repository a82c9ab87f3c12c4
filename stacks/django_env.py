"""Environment variables the stack sets for Django beyond what QueueWorker exposes."""

from __future__ import annotations

HANDLER_URL = "CLOUD_TASKS_HANDLER_URL"
OIDC_AUDIENCE = "CLOUD_TASKS_OIDC_AUDIENCE"
ALLOWED_HOSTS = "DJANGO_ALLOWED_HOSTS"
SECRET_KEY = "DJANGO_SECRET_KEY"
DATABASE_URL = "DATABASE_URL"
EMAIL_URL = "DJANGO_EMAIL_URL"
DEFAULT_FROM_EMAIL = "DJANGO_DEFAULT_FROM_EMAIL"

HANDLER_PATH = "/tasks/run/"


def for_tasks(web_url: str) -> dict[str, str]:
    """Where tasks are pushed over HTTP, and the audience their OIDC tokens carry."""
    return {HANDLER_URL: f"{web_url}{HANDLER_PATH}", OIDC_AUDIENCE: web_url}

"""System checks: an incomplete Cloud Tasks configuration stops start-up.

Django runs the backend checks through `BaseTaskBackend.check`, for each backend in
TASKS; `apps.CloudTasksConfig` registers the push handler's check.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from cloudtasks import env
from cloudtasks.options import InvalidOptions

# The environment variable config/settings.py fills each option from, so that a message
# can say what to set in a deployment. tests/django/test_settings.py holds the two to
# agreement.
OPTION_SOURCES = {
    "QUEUE_PATH": env.QUEUE_PATH,
    "URL": env.HANDLER_URL,
    "AUDIENCE": env.OIDC_AUDIENCE,
    "JOB_PATH": env.JOB_PATH,
    "SERVICE_ACCOUNT_EMAIL": env.INVOKER_EMAIL,
    "EMULATOR_HOST": env.EMULATOR_HOST,
}


def option_errors(alias: str, invalid: InvalidOptions | None) -> list[checks.CheckMessage]:
    if invalid is None:
        return []
    return [
        checks.Error(
            f"TASKS[{alias!r}]['OPTIONS'][{problem.option!r}] {problem.message}.",
            hint=_hint(problem.option),
            id="cloudtasks.E001",
        )
        for problem in invalid.problems
    ]


def _hint(option: str) -> str | None:
    source = OPTION_SOURCES.get(option)
    return f"The settings read it from the {source} environment variable." if source else None


# What the push handler compares tokens against, and where config/settings.py reads it.
AUTH_SOURCES = {
    "AUDIENCE": f"{env.OIDC_AUDIENCE} (or {env.HANDLER_URL})",
    "INVOKER_EMAIL": env.INVOKER_EMAIL,
}


def handler_auth_errors(**kwargs: object) -> list[checks.CheckMessage]:
    """The handler fails closed without these; say so at start-up, not at the first push."""
    config = getattr(settings, "CLOUD_TASKS_AUTH", {})
    return [
        checks.Error(
            f"CLOUD_TASKS_AUTH[{option!r}] is empty: POST /tasks/run/ would refuse every push.",
            hint=f"The settings read it from the {source} environment variable.",
            id="cloudtasks.E002",
        )
        for option, source in AUTH_SOURCES.items()
        if not config.get(option)
    ]

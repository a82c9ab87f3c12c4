"""System checks: an incomplete Cloud Tasks configuration stops start-up.

Django runs the backend checks through `BaseTaskBackend.check`, for each backend in
TASKS; `apps.CloudTasksConfig` registers the push handler's check and the check of
the tasks apps declare.
"""

from __future__ import annotations

import importlib

from django.conf import settings
from django.core import checks
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend

from cloudtasks import env, queue_env
from cloudtasks.options import InvalidOptions, Problem
from cloudtasks.task_modules import task_modules

# The environment variable config/settings.py fills each top-level option from, so that
# a message can say what to set in a deployment. tests/django/test_project_settings.py
# holds the two to agreement; the options of each queue come from env.QUEUES.
OPTION_SOURCES = {
    "URL": env.HANDLER_URL,
    "AUDIENCE": env.OIDC_AUDIENCE,
    "EMULATOR_HOST": env.EMULATOR_HOST,
}


def option_errors(alias: str, invalid: InvalidOptions | None) -> list[checks.CheckMessage]:
    if invalid is None:
        return []
    return [
        checks.Error(
            f"TASKS[{alias!r}]['OPTIONS']{problem.location} {problem.message}.",
            hint=_hint(problem),
            id="cloudtasks.E001",
        )
        for problem in invalid.problems
    ]


def _hint(problem: Problem) -> str | None:
    if len(problem.where) == 1 and problem.option in OPTION_SOURCES:
        return f"The settings read it from the {OPTION_SOURCES[problem.option]} environment variable."
    if len(problem.where) > 2 and problem.where[0] == "QUEUES" and problem.where[2] in queue_env.KEY_OF:
        return (
            f"The settings read it from the {queue_env.KEY_OF[problem.where[2]]!r} of queue "
            f"{problem.where[1]!r} in the {env.QUEUES} environment variable."
        )
    return None


def queues_setting_errors(alias: str, declared: object, routed: frozenset[str]) -> list[checks.CheckMessage]:
    """Django's own QUEUES setting, if given, must name the queues OPTIONS routes."""
    if declared is None or (not isinstance(declared, str) and set(declared) == routed):
        return []
    return [
        checks.Error(
            f"TASKS[{alias!r}]['QUEUES'] is {declared!r}, but OPTIONS['QUEUES'] routes "
            f"{', '.join(sorted(routed)) or 'no queue'}.",
            hint="Leave QUEUES out: the backend accepts exactly the queues OPTIONS['QUEUES'] routes.",
            id="cloudtasks.E003",
        )
    ]


def declared_task_errors(**kwargs: object) -> list[checks.CheckMessage]:
    """Tasks are checked when they are declared: a task module that declares a task for a
    queue or backend TASKS does not have cannot be imported. Import each one now, so that
    start-up fails rather than the first push or job execution."""
    errors = []
    for module in sorted(task_modules()):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise
        except (InvalidTask, InvalidTaskBackend) as error:
            errors.append(checks.Error(
                f"{module} declares a task TASKS cannot run: {error}",
                hint="Declare it for a backend and queue that TASKS configures.",
                id="cloudtasks.E004",
            ))
    return errors


# What the push handler compares tokens against, and where config/settings.py reads it.
AUTH_SOURCES = {
    "AUDIENCE": f"the {env.OIDC_AUDIENCE} (or {env.HANDLER_URL}) environment variable",
    "INVOKER_EMAILS": f"the {queue_env.INVOKER_EMAIL!r} of each queue in the {env.QUEUES} environment variable",
}


def handler_auth_errors(**kwargs: object) -> list[checks.CheckMessage]:
    """The handler fails closed without these; say so at start-up, not at the first push."""
    config = getattr(settings, "CLOUD_TASKS_AUTH", {})
    return [
        checks.Error(
            f"CLOUD_TASKS_AUTH[{option!r}] is empty: POST /tasks/run/ would refuse every push.",
            hint=f"The settings read it from {source}.",
            id="cloudtasks.E002",
        )
        for option, source in AUTH_SOURCES.items()
        if not config.get(option)
    ]


def sqlite_transaction_mode_warnings(**kwargs: object) -> list[checks.CheckMessage]:
    """Concurrent flushes rely on SQLite taking its write lock when a transaction begins."""
    return sqlite_warnings(settings.DATABASES.get("default", {}))


def sqlite_warnings(database: dict) -> list[checks.CheckMessage]:
    if database.get("ENGINE") != "django.db.backends.sqlite3":
        return []
    if str(database.get("OPTIONS", {}).get("transaction_mode", "")).upper() == "IMMEDIATE":
        return []
    return [checks.Warning(
        "DATABASES['default'] is SQLite without OPTIONS['transaction_mode'] = 'IMMEDIATE': two outbox "
        "flushes (or a flush and a task run) that write at the same time fail with 'database is locked'.",
        hint="Set DATABASES['default']['OPTIONS']['transaction_mode'] = 'IMMEDIATE' (config/settings.py does).",
        id="cloudtasks.W001",
    )]

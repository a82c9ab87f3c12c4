"""System checks: an incomplete Cloud Tasks configuration stops start-up.

Django runs the backend checks through `BaseTaskBackend.check`, for each backend in
TASKS (so they run even where the `cloudtasks` app is missing from INSTALLED_APPS, which
one of them reports); `apps.CloudTasksConfig` registers the push handler's check and the
check of the tasks apps declare. Messages name the option where the user's settings give
it (TASKS[alias]['OPTIONS'][...], CLOUD_TASKS_AUTH[...]); only Cloud Tasks backends in
TASKS are checked, so settings that use another backend (Django's ImmediateBackend in
tests) check cleanly.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend

from cloudtasks import periodic
from cloudtasks.auth.accepted import SETTING, SETTING_KEYS, given_auth, http_queues, local_signing_keys
from cloudtasks.config.backends import cloud_tasks_options
from cloudtasks.config.options import InvalidOptions
from cloudtasks.config.task_modules import task_modules


APP = "cloudtasks"


def app_missing_errors(alias: str) -> list[checks.CheckMessage]:
    """The backend keeps every task in the app's TaskRecord table: without the app there is
    no table to write to, and nothing runs the app's own checks. Said only once the apps
    are loaded (as when `manage.py check` runs): before that, nothing is known of them."""
    if not apps.apps_ready or apps.is_installed(APP):
        return []
    return [
        checks.Error(
            f"TASKS[{alias!r}] uses CloudTasksBackend, but {APP!r} is not in INSTALLED_APPS: the backend records "
            f"every task in that app's table, so no task could be enqueued or run.",
            hint=f"Add {APP!r} to INSTALLED_APPS, then run `manage.py migrate`.",
            id="cloudtasks.E005",
        )
    ]


def option_errors(alias: str, invalid: InvalidOptions | None) -> list[checks.CheckMessage]:
    if invalid is None:
        return []
    return [
        checks.Error(f"TASKS[{alias!r}]['OPTIONS']{problem.location} {problem.message}.", id="cloudtasks.E001")
        for problem in invalid.problems
    ]


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


def periodic_errors(**kwargs: object) -> list[checks.CheckMessage]:
    """Each periodic task (CLOUD_TASKS_PERIODIC) names a task declared with @task, on the
    queue whose worker job its schedule starts, that takes its arguments: said at start-up
    rather than at its first run, which may be a month away."""
    # Here, not at the top: the backend imports this module before models can load.
    from cloudtasks.run.declared_tasks import UnrunnableTask, resolve_task
    from cloudtasks.run.runner import check_arguments

    try:
        declared = periodic.declared()
    except periodic.InvalidPeriodic as error:
        return [_periodic_error(str(error))]
    errors = []
    for each in declared:
        where = f"{periodic.SETTING} {each.name!r}"
        try:
            task = resolve_task(each.task)
            check_arguments(task, list(each.args), dict(each.kwargs))
        except UnrunnableTask as error:
            errors.append(_periodic_error(f"{where} cannot run: {error}"))
            continue
        if task.queue_name != each.queue:
            errors.append(_periodic_error(
                f"{where} runs on the worker job of queue {each.queue!r}, but {each.task} is declared for "
                f"queue {task.queue_name!r}; set queue={task.queue_name!r}"
            ))
    return errors


def _periodic_error(message: str) -> checks.CheckMessage:
    return checks.Error(
        f"{message}.", hint="See cloudtasks.periodic: Periodic(name, task=..., schedule=..., queue=...).",
        id="cloudtasks.E006",
    )


def handler_auth_errors(**kwargs: object) -> list[checks.CheckMessage]:
    """What the push handler accepts must include what TASKS pushes with: the handler
    fails closed, so say so at start-up rather than at the first push."""
    given = getattr(settings, SETTING, {})
    if not isinstance(given, Mapping):
        return [_auth_error(f"{SETTING} is {given!r}; it must be a dict with the keys "
                            f"{', '.join(SETTING_KEYS)}, each optional")]
    errors = [
        _auth_error(f"{SETTING}[{key!r}] is not a key of it; they are {', '.join(SETTING_KEYS)}")
        for key in sorted(set(given) - set(SETTING_KEYS), key=str)
    ]
    accepted = given_auth()
    backends = cloud_tasks_options()
    emails = accepted.get("INVOKER_EMAILS")
    if isinstance(emails, str):
        errors.append(_auth_error(f"{SETTING}['INVOKER_EMAILS'] is {emails!r}; it must be a list of emails"))
        emails = None
    for queue in http_queues(backends):
        where = f"queue {queue.queue_name!r} of TASKS[{queue.alias!r}]"
        if emails is not None and queue.invoker_email not in emails:
            errors.append(_auth_error(
                f"{SETTING}['INVOKER_EMAILS'] leaves out {queue.invoker_email!r}, the SERVICE_ACCOUNT_EMAIL "
                f"of {where}: the push handler would refuse every task of that queue"
            ))
        if "AUDIENCE" in accepted and queue.audience != accepted["AUDIENCE"]:
            errors.append(_auth_error(
                f"{SETTING}['AUDIENCE'] is {accepted['AUDIENCE']!r}, but the tokens of {where} carry "
                f"{queue.audience!r} (its AUDIENCE, or else its URL): the push handler would refuse them"
            ))
    keys = sorted(local_signing_keys(backends))
    if len(keys) > 1 and "LOCAL_SIGNER" not in accepted:
        errors.append(_auth_error(
            f"TASKS names several LOCAL_SIGNING_KEY files ({', '.join(keys)}); the push handler trusts one: "
            f"give every backend the same"
        ))
    return errors


def _auth_error(message: str) -> checks.CheckMessage:
    return checks.Error(
        f"{message}.",
        hint=f"Leave {SETTING} out: the push handler then accepts the SERVICE_ACCOUNT_EMAIL and "
             f"AUDIENCE (or URL) of each queue of TASKS with TARGET 'http'.",
        id="cloudtasks.E002",
    )


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
        hint="Set DATABASES['default']['OPTIONS']['transaction_mode'] = 'IMMEDIATE'.",
        id="cloudtasks.W001",
    )]

"""Where tasks may be declared: the `tasks` module of an installed app.

A task crosses a process boundary by name (its module path), and the run side imports
only these modules, never a path a payload names. The enqueue side holds tasks to the
same rule, so that a task declared anywhere else is refused when it is enqueued rather
than when it arrives where it cannot run.
"""

from __future__ import annotations

from django.apps import apps

TASKS_MODULE = "tasks"  # where an app declares its tasks, as Django apps do for models


def task_modules() -> set[str]:
    """The modules tasks are declared in: each installed app's `tasks`."""
    return {f"{config.name}.{TASKS_MODULE}" for config in apps.get_app_configs()}


def outside_tasks_modules(task_path: str) -> str | None:
    """Why the task at `task_path` ("module.name") cannot run, if it is declared outside
    the tasks module of an installed app; None if it is declared in one."""
    module = task_path.rpartition(".")[0]
    if module in task_modules():
        return None
    return (
        f"{task_path!r} is declared in module {module!r}, which is not the {TASKS_MODULE!r} module of an "
        f"installed app: Cloud Tasks runs only tasks declared in the {TASKS_MODULE}.py of an app in "
        f"INSTALLED_APPS (<app>.{TASKS_MODULE}). Move the @task there."
    )

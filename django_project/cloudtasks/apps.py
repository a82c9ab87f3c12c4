from django.apps import AppConfig


class CloudTasksConfig(AppConfig):
    name = "cloudtasks"
    verbose_name = "Cloud Tasks"

    def ready(self) -> None:
        # django.tasks registers its system check (which runs each backend's check())
        # when it is first imported. Import it here, so that `manage.py check` covers
        # TASKS even before any module declaring a task has been imported.
        import django.tasks  # noqa: F401
        from django.core import checks

        from cloudtasks.checks import declared_task_errors, handler_auth_errors

        checks.register(handler_auth_errors)
        checks.register(declared_task_errors)

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
        from django.core.signals import request_finished, request_started

        from cloudtasks import logs
        from cloudtasks.checks import (
            declared_task_errors, handler_auth_errors, periodic_errors, sqlite_transaction_mode_warnings,
        )
        from cloudtasks.enqueue import send_budget
        from cloudtasks.signals import task_failed_permanently

        checks.register(handler_auth_errors)
        checks.register(declared_task_errors)
        checks.register(periodic_errors)
        checks.register(sqlite_transaction_mode_warnings, checks.Tags.database)
        # One budget per web request for sending after commit (cloudtasks.enqueue.send_budget).
        request_started.connect(send_budget.open_window, dispatch_uid="cloudtasks.send_budget.open")
        request_finished.connect(send_budget.close_window, dispatch_uid="cloudtasks.send_budget.close")
        # The line a log-based metric counts (cloudtasks.logs).
        task_failed_permanently.connect(logs.log_permanent_failure, dispatch_uid="cloudtasks.logs.failed")

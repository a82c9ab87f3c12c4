"""Task records in the Django admin: read-only, filtered by status, queue, task and
date; each one's arguments, attempts with their errors, and result; FAILED tasks can be
re-driven (cloudtasks.operations.redrive), and tasks waiting for an attempt cancelled
(cloudtasks.operations.cancel). Nobody deletes a record here: deleting one would not stop
its task (cancel does), and the prune deletes it once it has finished and aged
(cloudtasks.operations.prune).

Fast at a million records (docs/performance.md): every query the list makes is served
by an index (tests/django/test_admin_scale.py checks the plans). Its filters offer
choices from the settings and the code, not from a DISTINCT over the table; it searches
an exact id or the start of a task path; it counts up to a cap (cloudtasks.operations.counting),
never the whole table; it sorts only by what an index orders.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.tasks import Task, task_backends
from django.tasks.exceptions import InvalidTaskBackend, TaskResultDoesNotExist
from django.utils.html import format_html, format_html_join

from cloudtasks.config.task_modules import task_modules
from cloudtasks.exceptions import CannotCancel
from cloudtasks.models import TaskRecord
from cloudtasks.operations.cancel import cancel
from cloudtasks.operations.counting import CappedPaginator
from cloudtasks.operations.redrive import redrive


def _json(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


class QueueFilter(admin.SimpleListFilter):
    title = "queue name"
    parameter_name = "queue_name__exact"  # as the field filter it replaces named it: old links still work

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        # The queues TASKS routes; a queue no longer routed is found by its tasks' ids.
        queues = set()
        for alias in settings.TASKS:
            try:
                queues |= task_backends[alias].queues
            except InvalidTaskBackend:
                continue
        return [(name, name) for name in sorted(queues)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[TaskRecord]) -> QuerySet[TaskRecord]:
        return queryset.filter(queue_name=self.value()) if self.value() else queryset


class TaskPathFilter(admin.SimpleListFilter):
    title = "task path"
    parameter_name = "task_path__exact"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        # The tasks the installed apps declare; one no longer declared is found by the search.
        return [(path, path) for path in declared_task_paths()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[TaskRecord]) -> QuerySet[TaskRecord]:
        return queryset.filter(task_path=self.value()) if self.value() else queryset


def declared_task_paths() -> list[str]:
    paths = set()
    for module_name in task_modules():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        paths |= {value.module_path for value in vars(module).values() if isinstance(value, Task)}
    return sorted(paths)


class IndexOrderedChangeList(ChangeList):
    def get_ordering_field(self, field_name: str) -> str | None:
        # A column the list cannot sort by is not sorted by, even when a hand-made URL asks.
        return super().get_ordering_field(field_name) if field_name in self.sortable_by else None


@admin.register(TaskRecord)
class TaskRecordAdmin(admin.ModelAdmin):
    list_display = ("id", "task_path", "queue_name", "status", "attempt_count", "enqueued_at", "finished_at")
    list_filter = ("status", QueueFilter, TaskPathFilter, ("enqueued_at", admin.DateFieldListFilter))
    # Explicit lookups: "^" and "=" would compare in upper case, which no index serves.
    search_fields = ("id__exact", "task_path__startswith")
    search_help_text = "An id, or the start of a task path (accounts.tasks.send_welcome_email, accounts.)."
    ordering = ("-enqueued_at",)
    sortable_by = ("id", "enqueued_at")  # the primary key's and cloudtasks_enqueued_idx's orders
    paginator = CappedPaginator
    show_full_result_count = False  # a COUNT(*) over the whole table
    show_facets = admin.ShowFacets.NEVER  # a count per filter choice
    actions = ("redrive_failed", "cancel_not_started")
    fieldsets = (
        ("Task", {"fields": ("id", "task_path", "backend", "queue_name", "priority", "run_after", "arguments")}),
        ("Life", {"fields": ("status", "enqueued_at", "started_at", "last_attempted_at", "finished_at",
                             "cancelled_at", "result", "attempt_log")}),
        ("Delivery", {"fields": ("cloud_tasks_task", "sent_at", "check_after", "send_failures", "send_error",
                                 "lease_expires_at")}),
    )
    readonly_fields = (
        "id", "task_path", "backend", "queue_name", "priority", "run_after", "arguments", "status", "enqueued_at",
        "started_at", "last_attempted_at", "finished_at", "cancelled_at", "result", "attempt_log", "cloud_tasks_task", "sent_at",
        "check_after", "send_failures", "send_error", "lease_expires_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tasks are enqueued by code, not typed in

    def has_change_permission(self, request: HttpRequest, obj: TaskRecord | None = None) -> bool:
        # A record is only looked at; the list's actions (re-drive) need the permission.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: TaskRecord | None = None) -> bool:
        # Not even for superusers: deleting a task's record loses the task (a job task
        # cannot run without it), or its result. The prune deletes finished ones.
        return False

    def get_fieldsets(self, request: HttpRequest, obj: TaskRecord | None = None) -> Any:
        # "Cancelled at" only on a cancelled task's page.
        if obj is not None and obj.cancelled_at is None:
            return [(name, {"fields": tuple(f for f in options["fields"] if f != "cancelled_at")})
                    for name, options in self.fieldsets]
        return self.fieldsets

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return IndexOrderedChangeList

    @admin.display(description="attempts")
    def attempt_count(self, record: TaskRecord) -> int:
        return len(record.attempts)

    @admin.display(description="arguments")
    def arguments(self, record: TaskRecord) -> str:
        return _json({"args": record.args, "kwargs": record.kwargs})

    @admin.display(description="return value")
    def result(self, record: TaskRecord) -> str:
        return _json(record.return_value) if record.status == "SUCCESSFUL" else "-"

    @admin.display(description="attempts")
    def attempt_log(self, record: TaskRecord) -> str:
        if not record.attempts:
            return "none yet"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
            (
                (number, attempt["worker_id"], attempt["started_at"], attempt.get("finished_at") or "",
                 (attempt.get("error") or {}).get("traceback", ""))
                for number, attempt in enumerate(record.attempts, start=1)
            ),
        )
        return format_html(
            "<table><tr><th>#</th><th>worker</th><th>started</th><th>finished</th><th>error</th></tr>{}</table>", rows
        )

    @admin.display(description="Cloud Tasks task")
    def cloud_tasks_task(self, record: TaskRecord) -> str:
        return record.cloud_tasks_id()

    @admin.action(description="Re-drive the selected FAILED tasks (a new attempt, under a new name)",
                  permissions=["change"])
    def redrive_failed(self, request: HttpRequest, queryset: QuerySet[TaskRecord]) -> None:
        redriven, refused = redrive(queryset.values_list("pk", flat=True))
        if redriven:
            self.message_user(request, f"Re-driven: {', '.join(r.cloud_tasks_id() for r in redriven)}.")
        for record_id, reason in refused.items():
            self.message_user(request, f"Task {record_id} not re-driven: {reason}", level=messages.ERROR)
        left = queryset.count() - len(redriven) - len(refused)
        if left:
            self.message_user(request, f"{left} selected task(s) not FAILED, left alone.", level=messages.WARNING)

    @admin.action(description="Cancel the selected tasks that have not started (they will not run)",
                  permissions=["change"])
    def cancel_not_started(self, request: HttpRequest, queryset: QuerySet[TaskRecord]) -> None:
        cancelled = []
        for record_id in queryset.values_list("pk", flat=True):
            try:
                cancel(record_id)
            except CannotCancel as refusal:
                self.message_user(request, f"Not cancelled: {refusal}.", level=messages.ERROR)
            except TaskResultDoesNotExist:
                continue  # pruned since the list was shown
            else:
                cancelled.append(record_id)
        if cancelled:
            self.message_user(request, f"Cancelled: {', '.join(cancelled)}.")

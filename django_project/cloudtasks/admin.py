"""Task records in the Django admin: read-only, filtered by status, task, queue and
date; each one's arguments, attempts with their errors, and result; FAILED tasks can be
re-driven (cloudtasks.redrive)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from cloudtasks.models import TaskRecord
from cloudtasks.redrive import redrive


def _json(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


@admin.register(TaskRecord)
class TaskRecordAdmin(admin.ModelAdmin):
    list_display = ("id", "task_path", "queue_name", "status", "attempt_count", "enqueued_at", "finished_at")
    list_filter = ("status", "queue_name", "task_path", "backend")
    date_hierarchy = "enqueued_at"
    search_fields = ("id", "task_path")
    ordering = ("-enqueued_at",)
    actions = ("redrive_failed",)
    fieldsets = (
        ("Task", {"fields": ("id", "task_path", "backend", "queue_name", "priority", "run_after", "arguments")}),
        ("Life", {"fields": ("status", "enqueued_at", "started_at", "last_attempted_at", "finished_at",
                             "result", "attempt_log")}),
        ("Delivery", {"fields": ("cloud_tasks_task", "sent_at", "check_after", "send_failures", "send_error",
                                 "lease_expires_at")}),
    )
    readonly_fields = (
        "id", "task_path", "backend", "queue_name", "priority", "run_after", "arguments", "status", "enqueued_at",
        "started_at", "last_attempted_at", "finished_at", "result", "attempt_log", "cloud_tasks_task", "sent_at",
        "check_after", "send_failures", "send_error", "lease_expires_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tasks are enqueued by code, not typed in

    def has_change_permission(self, request: HttpRequest, obj: TaskRecord | None = None) -> bool:
        # A record is only looked at; the list's actions (re-drive) need the permission.
        return obj is None and super().has_change_permission(request)

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

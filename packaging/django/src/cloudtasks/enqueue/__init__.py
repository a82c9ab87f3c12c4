"""The enqueue side: from `task.enqueue()` to a task Cloud Tasks holds.

A task is first a row (outbox), sent after its transaction commits within the request's
budget (send_budget) as one CreateTask request (task_request, limits, sending) through
the process's one client (client). The backend (cloudtasks.backend) drives it.
"""

"""Signals of the Cloud Tasks backend, beside django.tasks' own (task_enqueued,
task_started, task_finished).

`task_failed_permanently(sender, task_result)`: a task failed for good, once per task
(and again only if it is re-driven and fails again): its last attempt failed, or it
raised PermanentFailure, or it can never run (an unknown task, arguments that do not
fit), or its return value is not JSON, or the flush found that its queue stopped
retrying it. `task_result` is what `get_result` returns for it (status FAILED, each
attempt's error). It is sent in the process that finds out: the push handler, the job
execution, or the flush. Connect to it to alert or compensate:

    @receiver(task_failed_permanently)
    def tell_someone(sender, task_result, **kwargs):
        mail_admins(f"Task {task_result.task.name} failed", task_result.errors[-1].traceback)
"""

from django.dispatch import Signal

task_failed_permanently = Signal()

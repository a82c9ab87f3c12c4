from django.tasks import task

from cloudtasks import non_atomic


# Both manage their own transactions: a flush or prune run holds no transaction open.
@task
@non_atomic
def flush_outbox() -> None:
    """Run every minute by the app stack's schedule (`run_task --periodic every-minute`, django_project/config/periodic.py):
    sends the tasks still pending in the outbox, and again those Cloud Tasks gave up on
    before they started (cloudtasks.operations.flush). Its log line shows the schedule runs."""
    from cloudtasks.operations.flush import flush  # models load with the apps, after task modules may be imported

    flush()


@task
@non_atomic
def prune_records() -> None:
    """Run every hour by the app stack's schedule (`run_task --periodic prune-records`):
    deletes the records of tasks that finished longer ago than their backend's RETENTION
    (cloudtasks.operations.prune). Its log line says how many."""
    from cloudtasks.operations.prune import prune  # models load with the apps, as for flush_outbox

    prune()

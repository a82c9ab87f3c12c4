"""The project's periodic tasks (cloudtasks.periodic), named in settings as CLOUD_TASKS_PERIODIC.

Read without Django too: the app stack makes a Cloud Scheduler job of each
(stacks/periodic.py), and scripts/dev.sh fires them locally. So this module imports
nothing but cloudtasks.periodic. Each runs in an execution of its queue's worker job;
each run is a task record, once per time its schedule fires.
"""

from cloudtasks.periodic import Periodic

PERIODIC = (
    # The outbox flush (cloudtasks.operations.flush): every minute, it sends what is still
    # pending, and again what Cloud Tasks gave up on. Its name is its scheduler job's.
    Periodic(
        "every-minute", task="cloudtasks.tasks.flush_outbox", schedule="* * * * *",
        description="Runs the outbox flush every minute: sends what is pending, and again what Cloud Tasks gave up on",
    ),
    # The prune (cloudtasks.operations.prune): every hour, it deletes the records of tasks
    # that finished longer ago than their backend's RETENTION; run hourly, each run has
    # little to delete. At half past, away from the top of the hour, when hourly work
    # tends to start.
    Periodic(
        "prune-records", task="cloudtasks.tasks.prune_records", schedule="30 * * * *",
        description="Runs the prune every hour: deletes the records of tasks that finished longer ago than their retention",
    ),
)

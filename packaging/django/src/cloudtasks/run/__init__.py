"""The run side: a delivered task run effectively once.

The push handler (cloudtasks.views) and `manage.py run_task` hand each delivery to the
runner (runner), which finds the declared task (declared_tasks), claims its record
(records), holds its lease while it runs (lease, against the database's clock:
db_clock), and records the outcome (results, what `get_result` reads too). A
job execution takes its task from the database (job_tasks) within its queue's slots
(slots, refusals); SIGTERM hands a running task back (shutdown).
"""

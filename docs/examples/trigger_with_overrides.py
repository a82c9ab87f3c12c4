"""A nightly run of a worker's job with its own args and env, in a time zone."""

from constructs_lib import QueueWorker, ScheduledTrigger, SchedulerRetry  # first: makes synth fast
from cdktf import App, TerraformStack
from cdktf_cdktf_provider_google.provider import GoogleProvider

app = App()
stack = TerraformStack(app, "nightly")
GoogleProvider(stack, "google", project="my-project", region="europe-west1")

worker = QueueWorker(
    stack, "worker", name="worker", image="europe-west1-docker.pkg.dev/my-project/app/app:1",
    region="europe-west1",
    command=["python", "-E", "-s", "manage.py", "run_task", "--settings", "config.settings"],
    args=["--queue", "default"],
)
# Overrides replace the container's args (and add env) for this run only; the trigger's
# identity then gets roles/run.jobsExecutorWithOverrides on this job, and nothing else.
ScheduledTrigger(
    stack, "nightly-report", job=worker, schedule="0 3 * * *", time_zone="Europe/Paris",
    args=["--task", "reports.tasks.nightly"], env={"REPORT_KIND": "daily"},
    description="The daily report, at 03:00 Paris time",
    attempt_deadline="300s", retry=SchedulerRetry(retry_count=2),
)
app.synth()

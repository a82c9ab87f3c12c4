"""A worker in another project, through an existing aliased provider of the stack."""

from constructs_lib import QueueWorker, ScheduledTrigger  # first: makes synth fast
from cdktf import App, TerraformStack
from cdktf_cdktf_provider_google.provider import GoogleProvider

app = App()
stack = TerraformStack(app, "two-projects")
# The stack's default provider, and one it already has for another project.
GoogleProvider(stack, "google", project="my-project", region="europe-west1")
analytics = GoogleProvider(
    stack, "google-analytics", alias="analytics", project="my-analytics-project", region="us-central1"
)

# Every resource of this worker (queue, job, identities, grants) uses the aliased
# provider: they land in my-analytics-project.
reports = QueueWorker(
    stack, "reports", name="reports", image="us-central1-docker.pkg.dev/my-analytics-project/app/app:1",
    region="us-central1", provider=analytics,
    command=["python", "-E", "-s", "manage.py", "run_task", "--settings", "config.settings"],
    args=["--queue", "reports"],
)
# A trigger uses its job's provider unless given its own.
ScheduledTrigger(stack, "hourly", job=reports, schedule="0 * * * *", args=["--task", "reports.tasks.hourly"])
# The web app in my-project may enqueue on the queue in my-analytics-project.
reports.grant_enqueue("serviceAccount:web@my-project.iam.gserviceaccount.com", id="web")
app.synth()

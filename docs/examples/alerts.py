"""A worker with alerts on the metrics Google publishes, and a dashboard."""

from constructs_lib import Monitoring, QueueWorker  # first: makes synth fast
from cdktf import App, TerraformStack, TerraformVariable
from cdktf_cdktf_provider_google.provider import GoogleProvider

app = App()
stack = TerraformStack(app, "monitored")
GoogleProvider(stack, "google", project="my-project", region="europe-west1")

# The channels to notify, given at plan time (TF_VAR_alert_channels='["projects/..."]');
# a literal list of "projects/P/notificationChannels/ID" works too.
channels = TerraformVariable(stack, "alert_channels", type="list(string)", default=[]).list_value

QueueWorker(
    stack, "emails", name="emails", image="europe-west1-docker.pkg.dev/my-project/app/app:1",
    region="europe-west1",
    command=["python", "-E", "-s", "manage.py", "run_task", "--settings", "config.settings"],
    args=["--queue", "emails"],
    # Three policies (backlog, failing attempts, failed executions) and a dashboard;
    # thresholds other than the defaults where mail must not wait.
    monitoring=Monitoring(notification_channels=channels, backlog_tasks=20, backlog_for="300s"),
)
app.synth()

"""Two queues, each with its own worker job, retry policy and rate limits."""

from constructs_lib import QueueWorker, RateLimits, RetryPolicy  # first: makes synth fast
from cdktf import App, TerraformStack
from cdktf_cdktf_provider_google.provider import GoogleProvider

IMAGE = "europe-west1-docker.pkg.dev/my-project/app/app:1"
# The Django worker: Python ignoring PYTHON* variables and the settings named, so that env
# runs no code before Django does; `--queue` takes one due job task of that queue.
RUN_TASK = ["python", "-E", "-s", "manage.py", "run_task", "--settings", "config.settings"]

app = App()
stack = TerraformStack(app, "two-queues")
GoogleProvider(stack, "google", project="my-project", region="europe-west1")

# Short work: retried quickly, for up to ten minutes.
emails = QueueWorker(
    stack, "emails", name="emails", image=IMAGE, region="europe-west1",
    command=RUN_TASK, args=["--queue", "emails"],
    retry=RetryPolicy(max_attempts=5, min_backoff="10s", max_backoff="600s", max_retry_duration="600s"),
)
# Long work: a bigger job, three attempts far apart, one dispatch a second, three at once,
# so that a burst of reports never holds up the mail.
reports = QueueWorker(
    stack, "reports", name="reports", image=IMAGE, region="europe-west1",
    command=RUN_TASK, args=["--queue", "reports"], memory="2Gi", timeout="14400s",
    retry=RetryPolicy(max_attempts=3, min_backoff="60s", max_backoff="900s"),
    rate_limits=RateLimits(max_dispatches_per_second=1, max_concurrent_dispatches=3),
)
app.synth()

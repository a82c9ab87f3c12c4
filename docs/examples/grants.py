"""Who may enqueue, who may be pushed to, and a worker that enqueues more work."""

from constructs_lib import QueueWorker  # first: makes synth fast
from cdktf import App, TerraformStack
from cdktf_cdktf_provider_google.cloud_run_v2_service import CloudRunV2Service
from cdktf_cdktf_provider_google.provider import GoogleProvider
from cdktf_cdktf_provider_google.service_account import ServiceAccount

IMAGE = "europe-west1-docker.pkg.dev/my-project/app/app:1"
# The Django worker: Python ignoring PYTHON* variables and the settings named, so that env
# runs no code before Django does; `--queue` takes one due job task of that queue.
RUN_TASK = ["python", "-E", "-s", "manage.py", "run_task", "--settings", "config.settings"]

app = App()
stack = TerraformStack(app, "grants")
GoogleProvider(stack, "google", project="my-project", region="europe-west1")

# worker_can_enqueue: the job gets the queue's producer_environment, and its identity
# may enqueue on its own queue (a task that enqueues follow-up work).
worker = QueueWorker(
    stack, "worker", name="worker", image=IMAGE, region="europe-west1",
    command=RUN_TASK, args=["--queue", "default"], worker_can_enqueue=True,
)
# The web app enqueues: it needs to know where (producer_environment) and to be allowed.
web_identity = ServiceAccount(stack, "web-identity", account_id="web-run")
web = CloudRunV2Service(
    stack, "web", name="web", location="europe-west1", deletion_protection=False,
    template={"service_account": web_identity.email, "containers": [{
        "image": IMAGE,
        "env": [{"name": name, "value": value} for name, value in worker.producer_environment.items()],
    }]},
)
# roles/cloudtasks.enqueuer on this queue, and act-as on the queue's invoker account
# only (to attach its token), nothing project-wide.
worker.grant_enqueue(f"serviceAccount:{web_identity.email}", id="web")
# Tasks pushed over HTTP to the web service: roles/run.invoker on that one service.
worker.allow_push_to_service(web)
app.synth()

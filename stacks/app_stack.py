"""AppStack: everything the Django app needs to run its background work on Google Cloud.

- a Cloud Run v2 service for the Django web app (its own identity), allowed to enqueue;
- a QueueWorker for each django.tasks queue name the app uses (`QUEUES`): "default" for
  short work and "long" for work that may take long, each its own Cloud Tasks queue with
  its own retry policy and rate limits, and its own worker job. A task runs either
  pushed over HTTP to the web service's /tasks/run/ or as an execution of its queue's
  worker job; the web service and every worker job may enqueue on every queue;
- a ScheduledTrigger that runs the heartbeat task every minute;
- outputs naming what was made.

The Django settings read the environment variables set here; their names and the
format of CLOUD_TASKS_QUEUES come from `stacks.django_env`, and a test checks them
against what Django reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformOutput, TerraformStack, TerraformVariable
from cdktf_cdktf_provider_google.cloud_run_v2_service import (
    CloudRunV2Service,
    CloudRunV2ServiceTemplateContainers,
    CloudRunV2ServiceTemplateContainersEnv,
)
from cdktf_cdktf_provider_google.cloud_run_v2_service_iam_member import CloudRunV2ServiceIamMember
from cdktf_cdktf_provider_google.data_google_project import DataGoogleProject
from cdktf_cdktf_provider_google.provider import GoogleProvider
from cdktf_cdktf_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from cdktf_cdktf_provider_google.service_account import ServiceAccount
from constructs import Construct

from constructs_lib import QueueWorker, RateLimits, RetryPolicy, ScheduledTrigger, SecretEnv
from constructs_lib.iam import ROLE_RUN_INVOKER, ROLE_SECRET_ACCESSOR, service_account_member

from . import django_env

APP = "djapp"
WEB_SERVICE_NAME = f"{APP}-web"
HEARTBEAT_TASK = "cloudtasks.tasks.heartbeat"
DEFAULT_REGION = "us-central1"
SECRET_KEY_SECRET = "django-secret-key"  # a Secret Manager secret you create (docs/deploy.md)


@dataclass(frozen=True)
class AppQueue:
    """A django.tasks queue name (settings.TASK_QUEUES), and how its worker serves it."""

    name: str
    retry: RetryPolicy
    rate_limits: RateLimits
    memory: str  # of the worker job
    timeout: str  # of one attempt of the worker job's task

    @property
    def worker_id(self) -> str:
        # The default queue's worker keeps the id it had when it was the only one, so
        # that a deployed stack keeps its queue (a deleted queue's name is reserved for
        # 7 days) rather than replacing it.
        return "worker" if self.name == "default" else f"worker-{self.name}"


QUEUES = (
    # Short work (mail, webhooks): retried quickly, for up to 10 minutes.
    AppQueue(
        "default",
        retry=RetryPolicy(max_attempts=5, min_backoff="10s", max_backoff="600s", max_retry_duration="600s"),
        rate_limits=RateLimits(),
        memory="512Mi", timeout="3600s",
    ),
    # Long work (reports, imports): three attempts far apart, few at a time, with room to run.
    AppQueue(
        "long",
        retry=RetryPolicy(max_attempts=3, min_backoff="60s", max_backoff="900s"),
        rate_limits=RateLimits(max_dispatches_per_second=1, max_concurrent_dispatches=3),
        memory="2Gi", timeout="14400s",
    ),
)


class AppStack(TerraformStack):
    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)

        project_id = TerraformVariable(self, "project_id", type="string", description="Google Cloud project id").string_value
        region = TerraformVariable(
            self, "region", type="string", default=DEFAULT_REGION, description="Region of every regional resource"
        ).string_value
        image = TerraformVariable(
            self, "image", type="string", description="Container image of the app (web and worker), e.g. REGION-docker.pkg.dev/P/R/app:TAG"
        ).string_value

        GoogleProvider(self, "google", project=project_id, region=region)
        project_number = DataGoogleProject(self, "project", project_id=project_id).number

        # Cloud Run's deterministic URL (run/docs/triggering/https-request): known before
        # the service exists, so the service can be told its own address without a cycle.
        web_host = f"{WEB_SERVICE_NAME}-{project_number}.{region}.run.app"
        web_url = f"https://{web_host}"
        secret_key = SecretEnv(SECRET_KEY_SECRET)
        workers: dict[str, QueueWorker] = {}
        # Every process gets every queue: a task on one queue may enqueue on another.
        task_env = {**django_env.for_tasks(web_url), **django_env.for_queues(workers)}
        for queue in QUEUES:
            workers[queue.name] = QueueWorker(
                self, queue.worker_id, name=f"{APP}-{queue.name}", image=image, region=region,
                command=["python", "manage.py", "run_task"],
                env=task_env,
                secret_env={django_env.SECRET_KEY: secret_key},
                cpu="1", memory=queue.memory, timeout=queue.timeout,
                retry=queue.retry, rate_limits=queue.rate_limits,
            )

        web_identity = ServiceAccount(
            self, "web-identity", account_id=f"{WEB_SERVICE_NAME}-run", display_name="Runtime identity of the Django web service"
        )
        web_env = {**task_env, django_env.ALLOWED_HOSTS: web_host}
        web = CloudRunV2Service(
            self, "web", name=WEB_SERVICE_NAME, location=region, ingress="INGRESS_TRAFFIC_ALL",
            template={
                "service_account": web_identity.email,
                "containers": [CloudRunV2ServiceTemplateContainers(
                    image=image,
                    env=[
                        *(CloudRunV2ServiceTemplateContainersEnv(name=k, value=v) for k, v in web_env.items()),
                        CloudRunV2ServiceTemplateContainersEnv(name=django_env.SECRET_KEY, value_source={
                            "secret_key_ref": {"secret": secret_key.secret, "version": secret_key.version}}),
                    ],
                )],
            },
        )
        SecretManagerSecretIamMember(
            self, "web-reads-secret-key", secret_id=secret_key.secret, role=ROLE_SECRET_ACCESSOR,
            member=service_account_member(web_identity),
        )
        # The sign-up pages are public; /tasks/run/ checks its own OIDC token.
        CloudRunV2ServiceIamMember(
            self, "web-public", name=web.name, location=web.location, role=ROLE_RUN_INVOKER, member="allUsers"
        )
        for worker in workers.values():
            worker.grant_enqueue(service_account_member(web_identity), id="web")
            for producer_name, producer in workers.items():
                # A worker's own identity keeps the grant id worker_can_enqueue gave it.
                grant = "worker" if producer is worker else f"{producer_name}-worker"
                worker.grant_enqueue(service_account_member(producer.service_account), id=grant)
            worker.allow_push_to_service(web)

        trigger = ScheduledTrigger(
            self, "every-minute", job=workers["default"], name=f"{APP}-every-minute", schedule="* * * * *", time_zone="UTC",
            description="Runs the worker's heartbeat task every minute",
            args=["--task", HEARTBEAT_TASK],
        )

        TerraformOutput(self, "cloud_tasks_queue_names", value={name: w.queue.name for name, w in workers.items()})
        TerraformOutput(self, "worker_job_names", value={name: w.job.name for name, w in workers.items()})
        TerraformOutput(self, "scheduler_job_name", value=trigger.scheduler_job.name)
        TerraformOutput(self, "web_service_url", value=web.uri)

"""AppStack: everything the Django app needs to run its background work on Google Cloud.

- a Cloud Run v2 service for the Django web app (its own identity), allowed to enqueue;
- a QueueWorker for the default queue: tasks run either pushed over HTTP to the web
  service's /tasks/run/ (short work) or as executions of the worker job (long work);
- a ScheduledTrigger that runs the worker's heartbeat task every minute;
- outputs naming what was made.

The Django settings read the environment variables set here; their names come from
`QueueWorker.producer_environment` and `stacks.django_env`, and a test checks them
against what Django reads.
"""

from __future__ import annotations

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

from constructs_lib import QueueWorker, RetryPolicy, ScheduledTrigger, SecretEnv
from constructs_lib.iam import ROLE_RUN_INVOKER, ROLE_SECRET_ACCESSOR, service_account_member

from . import django_env

APP = "djapp"
WEB_SERVICE_NAME = f"{APP}-web"
WORKER_NAME = f"{APP}-default"
HEARTBEAT_TASK = "cloudtasks.tasks.heartbeat"
DEFAULT_REGION = "us-central1"
SECRET_KEY_SECRET = "django-secret-key"  # a Secret Manager secret you create (docs/deploy.md)


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
        task_env = django_env.for_tasks(web_url)

        worker = QueueWorker(
            self, "worker", name=WORKER_NAME, image=image, region=region,
            command=["python", "manage.py", "run_task"],
            env=task_env,
            secret_env={django_env.SECRET_KEY: secret_key},
            cpu="1", memory="512Mi", timeout="3600s",
            retry=RetryPolicy(max_attempts=5, min_backoff="10s", max_backoff="600s", max_retry_duration="600s"),
            worker_can_enqueue=True,
        )

        web_identity = ServiceAccount(
            self, "web-identity", account_id=f"{WEB_SERVICE_NAME}-run", display_name="Runtime identity of the Django web service"
        )
        web_env = {
            **worker.producer_environment,
            **task_env,
            django_env.ALLOWED_HOSTS: web_host,
        }
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
        worker.grant_enqueue(service_account_member(web_identity), id="web")
        worker.allow_push_to_service(web)

        trigger = ScheduledTrigger(
            self, "every-minute", job=worker, name=f"{APP}-every-minute", schedule="* * * * *", time_zone="UTC",
            description="Runs the worker's heartbeat task every minute",
            args=["--task", HEARTBEAT_TASK],
        )

        TerraformOutput(self, "cloud_tasks_queue_name", value=worker.queue.name)
        TerraformOutput(self, "worker_job_name", value=worker.job.name)
        TerraformOutput(self, "scheduler_job_name", value=trigger.scheduler_job.name)
        TerraformOutput(self, "web_service_url", value=web.uri)

"""app_stack(): everything the Django app needs to run, and run its background work, on Google Cloud,
on either CDK engine (cdktf or cdktn: the engine of the App it is made in, main.py's DJAPP_ENGINE).

- the Google APIs it uses, enabled (and left enabled on destroy); everything waits for them;
- a Cloud Run v2 service for the Django web app (its own identity), public without an
  `allUsers` binding (`invoker_iam_disabled`), allowed to enqueue;
- a QueueWorker for each django.tasks queue name the app uses (`QUEUES`): "default" for
  short work and "long" for work that may take long, each its own Cloud Tasks queue with
  its own retry policy and rate limits, and its own worker job. A task runs either
  pushed over HTTP to the web service's /tasks/run/ or as an execution of its queue's
  worker job, started as defined (its invoker may not override it): the job's own args
  take a due job task of the queue from the database; the web service and every worker
  job may enqueue on every queue;
- a migrate job (`manage.py migrate`), which scripts/deploy.sh runs before a new web
  revision serves;
- a ScheduledTrigger for each of the app's schedules (`SCHEDULES`): the outbox flush
  every minute on the default worker (cloudtasks.operations.flush: it sends the tasks still pending
  after their commit, and again those Cloud Tasks gave up on before they started, which
  it asks Cloud Tasks about: the default worker may view the tasks of every queue), and the
  prune of finished task records every hour (cloudtasks.operations.prune), on the default worker too;
- PostgreSQL: DATABASE_URL from Secret Manager for the service and every job, from a
  secret you create or from Cloud SQL the stack makes (stacks/database.py); the most
  connections all of them can hold at once must fit its max_connections, or synth
  refuses the stack (stacks/connection_budget.py);
- outputs naming what was made.

Every identity that reads a secret is granted access to that secret only, and whatever
reads it waits for the grant: Cloud Run checks access when it creates a revision or job.

The Django settings read the environment variables set here; their names and the
format of CLOUD_TASKS_QUEUES come from `stacks.django_env`, and a test checks them
against what Django reads. The timeouts here agree with gunicorn's and the task
backend's (django_project/config/gunicorn.py; tests/test_timeouts.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from constructs import Construct

from constructs_lib import QueueWorker, RateLimits, RetryPolicy, ScheduledTrigger, SecretEnv
from constructs_lib.engine import engine_of
from constructs_lib.iam import ROLE_SECRET_ACCESSOR, service_account_member

from . import app_options, django_env
from .app_options import AppOptions
from .connection_budget import ConnectionBudget
from .database import CLOUD_SQL_MOUNT, CLOUD_SQL_VOLUME, CloudSqlDatabase, CloudSqlPostgres, ExistingDatabase

if TYPE_CHECKING:  # the engine's classes at run time (constructs_lib/engine.py)
    from cdktf import ITerraformDependable, TerraformStack
    from cdktf_cdktf_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
    from cdktf_cdktf_provider_google.service_account import ServiceAccount

APP = "djapp"
WEB_SERVICE_NAME = f"{APP}-web"
MIGRATE_JOB_NAME = f"{APP}-migrate"
FLUSH_TASK = "cloudtasks.tasks.flush_outbox"
PRUNE_TASK = "cloudtasks.tasks.prune_records"
# GetTask, for the flush to tell whether Cloud Tasks still holds a task.
ROLE_TASKS_VIEWER = "roles/cloudtasks.viewer"
# How the app's jobs start Python, so that their environment runs no code before Django
# does (even where a caller may override it, as a schedule's may): -E ignores PYTHON*
# variables (PYTHONWARNINGS imports the module its category names, before any line of
# ours), -s the user's site directory; -u keeps output unbuffered, as the image's
# PYTHONUNBUFFERED did before -E; --settings names the settings module, so a
# DJANGO_SETTINGS_MODULE from the environment is never imported. manage.py's own
# directory is on sys.path: config.settings is found without PYTHONPATH.
PYTHON = ["python", "-E", "-s", "-u"]
SETTINGS = ["--settings", "config.settings"]
MIGRATE_COMMAND = [*PYTHON, "manage.py", "migrate", *SETTINGS, "--noinput"]
# What every worker job runs. Its own args (AppQueue.worker_args) run a due job task of
# its queue: a job task's jobs:run call overrides nothing. A schedule's args replace them.
WORKER_COMMAND = [*PYTHON, "manage.py", "run_task", *SETTINGS]
DEFAULT_REGION = "us-central1"
# Secret Manager secrets you create (docs/deploy.md); DATABASE_URL's is in stacks/database.py.
SECRET_KEY_SECRET = "django-secret-key"
EMAIL_URL_SECRET = "django-email-url"

# The APIs the stack's resources call. Cloud Resource Manager and Service Usage must be
# on before the first plan (scripts/deploy.sh enables them): the project data source
# and these resources themselves use them.
APIS = (
    "cloudresourcemanager.googleapis.com", "iam.googleapis.com", "secretmanager.googleapis.com",
    "run.googleapis.com", "cloudtasks.googleapis.com", "cloudscheduler.googleapis.com",
)
CLOUD_SQL_API = "sqladmin.googleapis.com"

# The web service. HTTP tasks may run until Cloud Tasks' dispatch deadline (600 s, the
# backend's default): the request timeout is as long, gunicorn stops a request sooner
# (config/gunicorn.py), and each instance gets as many requests as gunicorn has workers.
WEB_REQUEST_TIMEOUT = "600s"
WEB_CONCURRENCY = 4
# Each instance's workers hold database connections: the connection budget counts
# WEB_MAX_INSTANCES x WEB_CONCURRENCY processes (stacks/connection_budget.py).
WEB_MAX_INSTANCES = 4


@dataclass(frozen=True)
class AppQueue:
    """A django.tasks queue name (settings.TASK_QUEUES), and how its worker serves it."""

    name: str
    retry: RetryPolicy
    rate_limits: RateLimits
    memory: str  # of the worker job
    timeout: str  # of one attempt of the worker job's task
    # Executions of the worker job that may use the database at once (the connection
    # budget counts them), and the seconds one more waits for a slot before it gives up,
    # out of its timeout (cloudtasks/run/slots.py).
    max_running: int
    slot_wait: int
    job_max_retries: int = 3  # of the worker job: retries of a failed execution's task

    @property
    def worker_args(self) -> tuple[str, ...]:
        """The worker job's own args: each execution runs one due job task of this queue."""
        return ("--queue", self.name)

    @property
    def worker_id(self) -> str:
        # The default queue's worker keeps the id it had when it was the only one, so
        # that a deployed stack keeps its queue (a deleted queue's name is reserved for
        # 7 days) rather than replacing it.
        return "worker" if self.name == "default" else f"worker-{self.name}"


QUEUES = (
    # Each queue's rate times its job's timeout bounds the job executions it can have
    # started at once; both stay below Cloud Run's 1,000 per region (900 and 720). Of
    # those, max_running use the database at once; the others wait for a slot. With the
    # web service they fill a 50-connection database exactly (docs/deploy.md).
    # Short work (mail, webhooks): retried quickly, for up to 10 minutes; pushed over HTTP
    # at up to 5 a second, or run as short jobs (and the outbox flush, every minute). A
    # job waits at most a third of its 3 minutes for a slot.
    AppQueue(
        "default",
        retry=RetryPolicy(max_attempts=5, min_backoff="10s", max_backoff="600s", max_retry_duration="600s"),
        rate_limits=RateLimits(max_dispatches_per_second=5, max_concurrent_dispatches=10),
        memory="512Mi", timeout="180s", max_running=4, slot_wait=60,
    ),
    # Long work (reports, imports): three attempts far apart, 3 started a minute, with room
    # to run; two at once, and a job waits up to 10 of its 240 minutes for a slot.
    AppQueue(
        "long",
        retry=RetryPolicy(max_attempts=3, min_backoff="60s", max_backoff="900s"),
        rate_limits=RateLimits(max_dispatches_per_second=0.05, max_concurrent_dispatches=3),
        memory="2Gi", timeout="14400s", max_running=2, slot_wait=600,
    ),
)


@dataclass(frozen=True)
class AppSchedule:
    """A schedule of the app: the worker job of `queue` runs with `args` on a cron schedule.

    The stack makes a ScheduledTrigger of each; scripts/dev.sh fires the same ones
    locally (local_run/scheduler.py), so a schedule is declared once, here.
    """

    id: str  # construct id; the scheduler job is called f"{APP}-{id}"
    queue: str  # whose worker job runs
    schedule: str  # unix-cron, five fields
    time_zone: str
    args: tuple[str, ...]
    description: str

    @property
    def name(self) -> str:
        return f"{APP}-{self.id}"


# The outbox flush (cloudtasks.operations.flush): every minute, it sends what is still pending and
# again what Cloud Tasks gave up on.
FLUSH_SCHEDULE = AppSchedule(
    "every-minute", queue="default", schedule="* * * * *", time_zone="UTC", args=("--task", FLUSH_TASK),
    description="Runs the outbox flush every minute: sends what is pending, and again what Cloud Tasks gave up on",
)
# The prune (cloudtasks.operations.prune): every hour, it deletes the records of tasks that finished
# longer ago than their backend's RETENTION; run hourly, each run has little to delete. At
# half past, away from the top of the hour, when hourly work tends to start.
PRUNE_SCHEDULE = AppSchedule(
    "prune-records", queue="default", schedule="30 * * * *", time_zone="UTC", args=("--task", PRUNE_TASK),
    description="Runs the prune every hour: deletes the records of tasks that finished longer ago than their retention",
)
SCHEDULES = (FLUSH_SCHEDULE, PRUNE_SCHEDULE)


def app_stack(scope: Construct, id: str, options: AppOptions = AppOptions()) -> TerraformStack:
    """The app's stack, made in `scope` (an App of cdktf or cdktn) with that engine's classes."""
    engine = engine_of(scope)
    core, google = engine.core, engine.google
    stack = core.TerraformStack(scope, id)
    if options.state_bucket:
        core.GcsBackend(stack, bucket=options.state_bucket, prefix=f"{APP}/{id}")

    project_id = core.TerraformVariable(stack, "project_id", type="string", description="Google Cloud project id").string_value
    region = core.TerraformVariable(
        stack, "region", type="string", default=DEFAULT_REGION, description="Region of every regional resource"
    ).string_value
    image = core.TerraformVariable(
        stack, "image", type="string", description="Container image of the app (web and jobs), e.g. REGION-docker.pkg.dev/P/R/app:TAG"
    ).string_value
    mail_from = core.TerraformVariable(
        stack, "mail_from", type="string", description="Address the app's mail comes from, e.g. noreply@example.com"
    ).string_value

    check_connection_budget(options.database)
    google("provider").GoogleProvider(stack, "google", project=project_id, region=region)
    cloud_sql = isinstance(options.database, CloudSqlDatabase)
    apis: list[ITerraformDependable] = [
        google("project_service").ProjectService(stack, f"api-{service.split('.')[0]}", service=service, disable_on_destroy=False)
        for service in (*APIS, *([CLOUD_SQL_API] if cloud_sql else []))
    ]
    project_number = google("data_google_project").DataGoogleProject(stack, "project", project_id=project_id).number

    # Cloud Run's deterministic URL (run/docs/triggering/https-request): known before
    # the service exists, so the service can be told its own address without a cycle.
    web_host = f"{WEB_SERVICE_NAME}-{project_number}.{region}.run.app"
    web_url = f"https://{web_host}"

    # What every container of the app reads from Secret Manager, and what must exist
    # before one is created: the secret version the stack writes, if it writes one.
    database = (
        CloudSqlPostgres(stack, "database", options=options.database, project=project_id, region=region, depends_on=apis)
        if isinstance(options.database, CloudSqlDatabase) else None
    )
    secrets = {
        django_env.SECRET_KEY: SecretEnv(SECRET_KEY_SECRET),
        django_env.EMAIL_URL: SecretEnv(EMAIL_URL_SECRET),
        django_env.DATABASE_URL: SecretEnv(database.secret_id if database else options.database.secret),
    }
    ready = [*apis, *([database.secret_version] if database else [])]
    workers: dict[str, QueueWorker] = {}
    # Every process gets every queue: a task on one queue may enqueue on another.
    app_env = {
        **django_env.for_tasks(web_url),
        **django_env.for_cloud_logging(project_id),
        **django_env.for_queues(engine, workers, {q.name: django_env.Slots(q.max_running, q.slot_wait) for q in QUEUES}),
        django_env.DEFAULT_FROM_EMAIL: mail_from,
    }
    for queue in QUEUES:
        workers[queue.name] = QueueWorker(
            stack, queue.worker_id, name=f"{APP}-{queue.name}", image=image, region=region,
            command=WORKER_COMMAND, args=list(queue.worker_args),
            env=app_env, secret_env=secrets,
            cpu="1", memory=queue.memory, timeout=queue.timeout, max_retries=queue.job_max_retries,
            retry=queue.retry, rate_limits=queue.rate_limits,
            deletion_protection=options.deletion_protection, depends_on=ready,
        )

    web_identity = _identity(stack, "web-identity", f"{WEB_SERVICE_NAME}-run", "the Django web service", apis)
    migrate_identity = _identity(stack, "migrate-identity", f"{MIGRATE_JOB_NAME}-run", "the migrate job", apis)
    web_waits = [*ready, *_secret_grants(stack, "web", web_identity, secrets, apis)]
    migrate_waits = [*ready, *_secret_grants(stack, "migrate", migrate_identity, secrets, apis)]
    if database:
        web_waits.append(database.grant_client(service_account_member(web_identity), id="web"))
        migrate_waits.append(database.grant_client(service_account_member(migrate_identity), id="migrate"))
        for queue in QUEUES:
            worker = workers[queue.name]
            database.grant_client(service_account_member(worker.service_account), id=queue.worker_id)
            _mount_cloud_sql_in_worker(worker, database.connection_name)

    run_service, run_job = google("cloud_run_v2_service"), google("cloud_run_v2_job")
    run_service.CloudRunV2Service(
        stack, "web", name=WEB_SERVICE_NAME, location=region, ingress="INGRESS_TRAFFIC_ALL",
        # Public without an allUsers binding, which the Domain Restricted Sharing
        # policy refuses: Cloud Run skips its invoker check. /tasks/run/ checks its
        # own OIDC token (and Cloud Run leaves the token's signature for it to check).
        invoker_iam_disabled=True,
        deletion_protection=options.deletion_protection, depends_on=web_waits,
        template={
            "service_account": web_identity.email,
            "timeout": WEB_REQUEST_TIMEOUT,
            "max_instance_request_concurrency": WEB_CONCURRENCY,
            "scaling": {"max_instance_count": WEB_MAX_INSTANCES},
            "containers": [run_service.CloudRunV2ServiceTemplateContainers(
                image=image,
                env=_container_env(run_service.CloudRunV2ServiceTemplateContainersEnv, {
                    **app_env,
                    # The deterministic host, and the service's other URL
                    # (SERVICE-HASH-REGIONCODE.a.run.app), whose hash Cloud Run picks
                    # when it creates the service. Google's front end routes a request
                    # by its Host, so only requests addressed to this service reach it.
                    django_env.ALLOWED_HOSTS: f"{web_host},.a.run.app",
                }, secrets),
                resources={"limits": {"cpu": "1", "memory": "512Mi"}},
                volume_mounts=[run_service.CloudRunV2ServiceTemplateContainersVolumeMounts(
                    name=CLOUD_SQL_VOLUME, mount_path=CLOUD_SQL_MOUNT)] if database else None,
            )],
            "volumes": [run_service.CloudRunV2ServiceTemplateVolumes(
                name=CLOUD_SQL_VOLUME, cloud_sql_instance={"instances": [database.connection_name]})] if database else None,
        },
    )
    for worker in workers.values():
        worker.grant_enqueue(service_account_member(web_identity), id="web")
        for producer_name, producer in workers.items():
            # A worker's own identity keeps the grant id worker_can_enqueue gave it.
            grant = "worker" if producer is worker else f"{producer_name}-worker"
            worker.grant_enqueue(service_account_member(producer.service_account), id=grant)

    migrate = run_job.CloudRunV2Job(
        stack, "migrate", name=MIGRATE_JOB_NAME, location=region,
        deletion_protection=options.deletion_protection, depends_on=migrate_waits,
        template={"template": {
            "service_account": migrate_identity.email,
            "timeout": "600s",
            # A failed migration is for a person to read, not to repeat.
            "max_retries": 0,
            "containers": [run_job.CloudRunV2JobTemplateTemplateContainers(
                image=image, command=MIGRATE_COMMAND,
                env=_container_env(run_job.CloudRunV2JobTemplateTemplateContainersEnv, app_env, secrets),
                volume_mounts=[run_job.CloudRunV2JobTemplateTemplateContainersVolumeMounts(
                    name=CLOUD_SQL_VOLUME, mount_path=CLOUD_SQL_MOUNT)] if database else None,
            )],
            "volumes": [run_job.CloudRunV2JobTemplateTemplateVolumes(
                name=CLOUD_SQL_VOLUME, cloud_sql_instance={"instances": [database.connection_name]})] if database else None,
        }},
    )

    triggers = {
        schedule.id: ScheduledTrigger(
            stack, schedule.id, job=workers[schedule.queue], name=schedule.name, schedule=schedule.schedule,
            time_zone=schedule.time_zone, description=schedule.description, args=list(schedule.args),
            depends_on=apis,
        )
        for schedule in SCHEDULES
    }
    flusher = workers[FLUSH_SCHEDULE.queue]
    for worker in workers.values():
        google("cloud_tasks_queue_iam_member").CloudTasksQueueIamMember(
            stack, f"flush-views-{worker.name}", name=worker.queue.name, location=worker.queue.location,
            project=worker.queue.project, role=ROLE_TASKS_VIEWER,
            member=service_account_member(flusher.service_account), depends_on=apis,
        )

    core.TerraformOutput(stack, "cloud_tasks_queue_names", value={name: w.queue.name for name, w in workers.items()})
    core.TerraformOutput(stack, "worker_job_names", value={name: w.job.name for name, w in workers.items()})
    core.TerraformOutput(stack, "migrate_job_name", value=migrate.name)
    core.TerraformOutput(stack, "scheduler_job_name", value=triggers["every-minute"].scheduler_job.name)
    core.TerraformOutput(stack, "web_service_url", value=web_url)
    if database:
        core.TerraformOutput(stack, "cloud_sql_connection_name", value=database.connection_name)
    return stack


def connection_budget() -> ConnectionBudget:
    """The most connections the app's processes can hold at once (stacks/connection_budget.py)."""
    for queue in QUEUES:
        timeout = int(queue.timeout.removesuffix("s"))
        if not 1 <= queue.max_running or not 0 <= queue.slot_wait < timeout:
            raise ValueError(
                f"queue {queue.name!r}: max_running is {queue.max_running} and slot_wait {queue.slot_wait}; "
                f"max_running must be 1 or more, and slot_wait from 0 to less than the job's timeout ({timeout} s)"
            )
    return ConnectionBudget(
        web_instances=WEB_MAX_INSTANCES, web_workers=WEB_CONCURRENCY,
        max_running={queue.name: queue.max_running for queue in QUEUES},
    )


def check_connection_budget(database: ExistingDatabase | CloudSqlDatabase) -> None:
    """ConnectionBudgetExceeded, naming every number, unless the app fits the database."""
    if isinstance(database, CloudSqlDatabase):
        limit, raise_it = "the Cloud SQL instance's max_connections flag", (
            f"raise the flag ({app_options.DATABASE_MAX_CONNECTIONS}, or CloudSqlDatabase(max_connections=...)) "
            f"on a tier with the memory for it"
        )
    else:
        limit, raise_it = "the max_connections of your database", (
            f"if your server allows more, say so with {app_options.DATABASE_MAX_CONNECTIONS}"
        )
    connection_budget().check_fits(database.connection_limit, limit=limit, raise_it=raise_it)


def _identity(scope: Construct, id: str, account_id: str, what: str, apis: list[ITerraformDependable]) -> ServiceAccount:
    service_account = engine_of(scope).google("service_account").ServiceAccount
    return service_account(scope, id, account_id=account_id, display_name=f"Runtime identity of {what}", depends_on=apis)


def _secret_grants(
    scope: Construct, who: str, identity: ServiceAccount, secrets: Mapping[str, SecretEnv],
    apis: list[ITerraformDependable],
) -> list[SecretManagerSecretIamMember]:
    """secretAccessor for `identity` on each secret it reads, and on nothing else."""
    member_class = engine_of(scope).google("secret_manager_secret_iam_member").SecretManagerSecretIamMember
    return [
        member_class(
            scope, f"{who}-reads-{env_name.lower().replace('_', '-')}", secret_id=ref.secret,
            role=ROLE_SECRET_ACCESSOR, member=service_account_member(identity), depends_on=apis,
        )
        for env_name, ref in secrets.items()
    ]


def _container_env(env_type: type, plain: Mapping[str, str], secrets: Mapping[str, SecretEnv]) -> list[Any]:
    """A container's env list; `env_type` is the service's or the job's struct for one entry."""
    return [
        *(env_type(name=name, value=value) for name, value in plain.items()),
        *(env_type(name=name, value_source={"secret_key_ref": {"secret": ref.secret, "version": ref.version}})
          for name, ref in secrets.items()),
    ]


def _mount_cloud_sql_in_worker(worker: QueueWorker, connection_name: str) -> None:
    # QueueWorker has no volume option (it knows nothing of databases): the stack adds
    # the Cloud SQL volume to the job it made, through cdktf's override escape hatch.
    worker.job.add_override(
        "template.template.volumes",
        [{"name": CLOUD_SQL_VOLUME, "cloud_sql_instance": {"instances": [connection_name]}}],
    )
    worker.job.add_override(
        "template.template.containers.0.volume_mounts",
        [{"name": CLOUD_SQL_VOLUME, "mount_path": CLOUD_SQL_MOUNT}],
    )

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
- a ScheduledTrigger for each periodic task the Django project declares
  (django_project/config/periodic.py, read by stacks/periodic.py), on its queue's worker:
  the outbox flush every minute (cloudtasks.operations.flush: it sends the tasks still
  pending after their commit, and again those Cloud Tasks gave up on before they started,
  which it asks Cloud Tasks about: the worker that runs it may view the tasks of every
  queue; a project that declares no flush is refused), and the prune of finished task
  records every hour (cloudtasks.operations.prune);
- PostgreSQL: DATABASE_URL from Secret Manager for the service and every job, from a
  secret you create or from Cloud SQL the stack makes (stacks/database.py); the most
  connections all of them can hold at once must fit its max_connections, or synth
  refuses the stack (stacks/connection_budget.py);
- alert policies and a dashboard for every worker (constructs_lib Monitoring), and with
  Cloud SQL a connections alert at CONNECTIONS_ALERT_SHARE of what the app's processes
  may hold, all notifying the channels of the variable `alert_notification_channels`
  (none by default: incidents open in the console only; docs/deploy.md, Alerts);
- outputs naming what was made.

Every identity that reads a secret is granted access to that secret only, and whatever
reads it waits for the grant: Cloud Run checks access when it creates a revision or job.

The Django settings read the environment variables set here; their names and the
format of CLOUD_TASKS_QUEUES come from `stacks.django_env`, and a test checks them
against what Django reads. The timeouts here agree with gunicorn's and the task
backend's (django_project/config/gunicorn.py; tests/test_timeouts.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from constructs import Construct

from constructs_lib import Monitoring, QueueWorker, RateLimits, RetryPolicy, ScheduledTrigger, SecretEnv
from constructs_lib import limits as construct_limits
from constructs_lib.engine import engine_of
from constructs_lib.iam import ROLE_SECRET_ACCESSOR, service_account_member
from constructs_lib.iam_wait import DEFAULT_IAM_PROPAGATION, IamWait
from constructs_lib.registry import claim_account_id, claim_name, project_key

from cloudtasks.periodic import InvalidPeriodic, Periodic

from . import app_options, django_env, periodic
from . import names as names_module
from .app_options import AppOptions
from .connection_budget import ConnectionBudget
from .database import CLOUD_SQL_MOUNT, CLOUD_SQL_VOLUME, CloudSqlDatabase, CloudSqlPostgres, ExistingDatabase

if TYPE_CHECKING:  # the engine's classes at run time (constructs_lib/engine.py)
    from cdktf import ITerraformDependable, TerraformStack
    from cdktf_cdktf_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
    from cdktf_cdktf_provider_google.service_account import ServiceAccount

APP = names_module.APP
# The first deployment's names (another environment's: AppOptions.names).
WEB_SERVICE_NAME = names_module.AppNames().web_service
MIGRATE_JOB_NAME = names_module.AppNames().migrate_job
FLUSH_TASK = "cloudtasks.tasks.flush_outbox"
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
# How long what needs new grants waits for them to take effect (constructs_lib/iam_wait.py).
IAM_PROPAGATION = DEFAULT_IAM_PROPAGATION

# The APIs the stack's resources call. Cloud Resource Manager and Service Usage must be
# on before the first plan (scripts/deploy.sh enables them): the project data source
# and these resources themselves use them.
APIS = (
    "cloudresourcemanager.googleapis.com", "iam.googleapis.com", "secretmanager.googleapis.com",
    "run.googleapis.com", "cloudtasks.googleapis.com", "cloudscheduler.googleapis.com", "monitoring.googleapis.com",
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
# The Terraform variable (TF_VAR_alert_notification_channels) naming the notification
# channels every alert policy notifies; none: the policies open incidents in the console only.
ALERT_CHANNELS_VARIABLE = "alert_notification_channels"
# The connections alert opens at this share of what the app's processes may hold.
CONNECTIONS_ALERT_SHARE = 0.9


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
    """A schedule of the app: the worker job of `queue` runs with `args` on a schedule
    (unix-cron, or Cloud Scheduler's English-like format).

    The stack makes a ScheduledTrigger of each; scripts/dev.sh fires the same ones
    locally (local_run/scheduler.py). Each is a periodic task the Django project declares
    (`app_schedules`): declared once, beside the code.
    """

    id: str  # construct id; the scheduler job is called f"{APP}-{id}"
    queue: str  # whose worker job runs
    schedule: str
    time_zone: str
    args: tuple[str, ...]
    description: str | None
    task: str  # the task its runs run

    @property
    def name(self) -> str:
        return f"{APP}-{self.id}"


def app_schedules(declared: Sequence[Periodic]) -> tuple[AppSchedule, ...]:
    """A schedule for each periodic task the project declares, run by `run_task --periodic
    NAME`; InvalidPeriodic if one names a queue without a worker, or none runs the flush."""
    queues = [queue.name for queue in QUEUES]
    for each in declared:
        if each.queue not in queues:
            raise InvalidPeriodic(
                f"periodic task {each.name!r} runs on queue {each.queue!r}, which has no worker job in the app "
                f"stack; its queues are {', '.join(queues)}"
            )
    if not any(each.task == FLUSH_TASK for each in declared):
        raise InvalidPeriodic(
            f"no periodic task runs {FLUSH_TASK}: without the flush, a task not sent after its commit is never "
            f"sent; declare Periodic(\"every-minute\", task={FLUSH_TASK!r}, schedule=\"* * * * *\") in {periodic.DECLARATIONS.name}"
        )
    return tuple(
        AppSchedule(each.name, queue=each.queue, schedule=each.schedule, time_zone=each.time_zone,
                    args=("--periodic", each.name), description=each.description or None, task=each.task)
        for each in declared
    )


def app_stack(
    scope: Construct, id: str, options: AppOptions = AppOptions(), declared: Sequence[Periodic] | None = None,
) -> TerraformStack:
    """The app's stack, made in `scope` (an App of cdktf or cdktn) with that engine's classes;
    its schedules are the periodic tasks `declared` (default: the Django project's)."""
    schedules = app_schedules(periodic.declared() if declared is None else declared)
    engine = engine_of(scope)
    core, google = engine.core, engine.google
    stack = core.TerraformStack(scope, id)
    names = options.names
    if options.state_bucket:
        core.GcsBackend(stack, bucket=options.state_bucket, prefix=f"{names.state_prefix}/{id}")

    project_id = core.TerraformVariable(stack, "project_id", type="string", description="Google Cloud project id").string_value
    # No default: a plan or destroy without the region the stack was deployed to would
    # otherwise plan replacing every regional resource in another (scripts/deploy.sh
    # passes DJAPP_REGION, default us-central1, and destroys in the deployed one).
    region = core.TerraformVariable(
        stack, "region", type="string", description="Region of every regional resource, e.g. us-central1"
    ).string_value
    image = core.TerraformVariable(
        stack, "image", type="string", description="Container image of the app (web and jobs), e.g. REGION-docker.pkg.dev/P/R/app:TAG"
    ).string_value
    mail_from = core.TerraformVariable(
        stack, "mail_from", type="string", description="Address the app's mail comes from, e.g. noreply@example.com"
    ).string_value

    alert_channels = core.TerraformVariable(
        stack, ALERT_CHANNELS_VARIABLE, type="list(string)", default=[],
        description="Notification channels every alert policy notifies, projects/P/notificationChannels/ID; "
                    "none: alerts show in the console only",
        validation=[core.TerraformVariableValidationConfig(
            condition=(f"${{alltrue([for channel in var.{ALERT_CHANNELS_VARIABLE} : "
                       f"can(regex(\"^{construct_limits.NOTIFICATION_CHANNEL.pattern}$\", channel))])}}"),
            error_message=f"Each item of {ALERT_CHANNELS_VARIABLE} must be a notification channel's name, "
                          "projects/PROJECT/notificationChannels/ID.",
        )],
    ).list_value

    check_connection_budget(options.database)
    google("provider").GoogleProvider(stack, "google", project=project_id, region=region)
    # The names this stack alone creates, claimed as the constructs claim theirs: a second
    # app stack that would create them in the same project is refused at synth.
    in_project = project_key(stack, None, None)
    for kind, name in (("Cloud Run service", names.web_service), ("Cloud Run job", names.migrate_job)):
        claim_name(stack, f"app stack {id}", kind, in_project, name, option="environment")
    for part in ("web", "migrate"):
        claim_account_id(stack, f"app stack {id}", in_project, names.account_id(part), names.of(part), "environment")
    cloud_sql = isinstance(options.database, CloudSqlDatabase)
    apis: list[ITerraformDependable] = [
        google("project_service").ProjectService(stack, f"api-{service.split('.')[0]}", service=service, disable_on_destroy=False)
        for service in (*APIS, *([CLOUD_SQL_API] if cloud_sql else []))
    ]
    project_number = google("data_google_project").DataGoogleProject(stack, "project", project_id=project_id).number

    # Cloud Run's deterministic URL (run/docs/triggering/https-request): known before
    # the service exists, so the service can be told its own address without a cycle.
    web_host = f"{names.web_service}-{project_number}.{region}.run.app"
    web_url = f"https://{web_host}"

    # What every container of the app reads from Secret Manager, and what must exist
    # before one is created: the secret version the stack writes, if it writes one.
    database = (
        CloudSqlPostgres(stack, "database", options=options.database, names=names, project=project_id, region=region,
                         depends_on=apis)
        if isinstance(options.database, CloudSqlDatabase) else None
    )
    # The secret the stack writes is read by its version number: consistent right after
    # the write, and a new value rolls out as a new revision (stacks/database.py).
    secrets = {
        django_env.SECRET_KEY: SecretEnv(names.secret_key_secret),
        django_env.EMAIL_URL: SecretEnv(names.email_url_secret),
        django_env.DATABASE_URL: (
            SecretEnv(database.secret_id, version=database.secret_version.version) if database
            else SecretEnv(options.database.secret or names.database_url_secret)
        ),
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
            stack, queue.worker_id, name=names.of(queue.name), image=image, region=region,
            command=WORKER_COMMAND, args=list(queue.worker_args),
            env=app_env, secret_env=secrets,
            cpu="1", memory=queue.memory, timeout=queue.timeout, max_retries=queue.job_max_retries,
            retry=queue.retry, rate_limits=queue.rate_limits,
            deletion_protection=options.deletion_protection, depends_on=ready,
            monitoring=Monitoring(notification_channels=alert_channels),
        )

    web_identity = _identity(stack, "web-identity", names.account_id("web"), "the Django web service", apis)
    migrate_identity = _identity(stack, "migrate-identity", names.account_id("migrate"), "the migrate job", apis)
    # The web service and the migrate job are created once their identities and grants
    # have taken effect (constructs_lib/iam_wait.py), as each worker's job is.
    web_iam = IamWait(stack, "web-iam-propagation", duration=IAM_PROPAGATION, depends_on=ready,
                      grants=[web_identity, *_secret_grants(stack, "web", web_identity, secrets, apis)])
    migrate_iam = IamWait(stack, "migrate-iam-propagation", duration=IAM_PROPAGATION, depends_on=ready,
                          grants=[migrate_identity, *_secret_grants(stack, "migrate", migrate_identity, secrets, apis)])
    if database:
        web_iam.add(database.grant_client(service_account_member(web_identity), id="web"))
        migrate_iam.add(database.grant_client(service_account_member(migrate_identity), id="migrate"))
        for queue in QUEUES:
            worker = workers[queue.name]
            worker.wait_for_grants(database.grant_client(service_account_member(worker.service_account), id=queue.worker_id))
            _mount_cloud_sql_in_worker(worker, database.connection_name)
        database.alert_on_connections(
            int(connection_budget().app_connections * CONNECTIONS_ALERT_SHARE), channels=alert_channels,
        )

    run_service, run_job = google("cloud_run_v2_service"), google("cloud_run_v2_job")
    run_service.CloudRunV2Service(
        stack, "web", name=names.web_service, location=region, ingress="INGRESS_TRAFFIC_ALL",
        # Public without an allUsers binding, which the Domain Restricted Sharing
        # policy refuses: Cloud Run skips its invoker check. /tasks/run/ checks its
        # own OIDC token (and Cloud Run leaves the token's signature for it to check).
        invoker_iam_disabled=True,
        deletion_protection=options.deletion_protection, depends_on=[*ready, web_iam.sleep],
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
                # Request-based billing: CPU only while a request is served (with `limits`
                # set, Cloud Run's default of true must be written out). The service does
                # nothing between requests, so an idle instance costs nothing
                # (run/docs/configuring/billing-settings; docs/deploy.md has the numbers).
                resources={"limits": {"cpu": "1", "memory": "512Mi"}, "cpu_idle": True},
                volume_mounts=[run_service.CloudRunV2ServiceTemplateContainersVolumeMounts(
                    name=CLOUD_SQL_VOLUME, mount_path=CLOUD_SQL_MOUNT)] if database else None,
            )],
            "volumes": [run_service.CloudRunV2ServiceTemplateVolumes(
                name=CLOUD_SQL_VOLUME, cloud_sql_instance={"instances": [database.connection_name]})] if database else None,
        },
    )
    for worker in workers.values():
        web_iam.add(*worker.grant_enqueue(service_account_member(web_identity), id="web"))
        for producer_name, producer in workers.items():
            # A worker's own identity keeps the grant id worker_can_enqueue gave it.
            grant = "worker" if producer is worker else f"{producer_name}-worker"
            producer.wait_for_grants(*worker.grant_enqueue(service_account_member(producer.service_account), id=grant))

    migrate = run_job.CloudRunV2Job(
        stack, "migrate", name=names.migrate_job, location=region,
        deletion_protection=options.deletion_protection, depends_on=[*ready, migrate_iam.sleep],
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
            stack, schedule.id, job=workers[schedule.queue], name=names.of(schedule.id), schedule=schedule.schedule,
            time_zone=schedule.time_zone, description=schedule.description, args=list(schedule.args),
            depends_on=apis,
        )
        for schedule in schedules
    }
    flush = next(schedule for schedule in schedules if schedule.task == FLUSH_TASK)
    flusher = workers[flush.queue]
    for queue in QUEUES:
        worker = workers[queue.name]
        # Its construct id names the queue as it did before environments (djapp-NAME).
        flusher.wait_for_grants(google("cloud_tasks_queue_iam_member").CloudTasksQueueIamMember(
            stack, f"flush-views-{APP}-{queue.name}", name=worker.queue.name, location=worker.queue.location,
            project=worker.queue.project, role=ROLE_TASKS_VIEWER,
            member=service_account_member(flusher.service_account), depends_on=apis,
        ))

    core.TerraformOutput(stack, "cloud_tasks_queue_names", value={name: w.queue.name for name, w in workers.items()})
    core.TerraformOutput(stack, "worker_job_names", value={name: w.job.name for name, w in workers.items()})
    core.TerraformOutput(stack, "migrate_job_name", value=migrate.name)
    core.TerraformOutput(stack, "scheduler_job_name", value=triggers[flush.id].scheduler_job.name)
    core.TerraformOutput(stack, "web_service_url", value=web_url)
    # What this deployment was applied with, kept in its state: scripts/deploy.sh destroys
    # with exactly these, whatever the environment of the shell that runs it.
    core.TerraformOutput(stack, "deployed_with", value={"project_id": project_id, "region": region, "image": image,
                                                        "mail_from": mail_from})
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

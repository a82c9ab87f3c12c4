"""QueueWorker: a Cloud Tasks queue, the Cloud Run v2 job that does its work, and the
two identities and least IAM that make it run."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import jsii
from constructs import Construct

from . import limits, producer_env, run_api
from .alerts import Monitoring, queue_worker_policies
from .dashboards import queue_worker_dashboard
from .dependencies import RefuseNodeDependencies
from .container_inputs import check_env, check_env_count, check_env_name, check_image, check_strings
from .engine import Engine, engine_of
from .iam import (
    ROLE_ENQUEUER,
    ROLE_RUN_INVOKER,
    ROLE_SECRET_ACCESSOR,
    ROLE_SERVICE_ACCOUNT_USER,
    Identity,
    check_member,
    grant_id,
    service_account_member,
    service_account_path,
)
from .iam_wait import DEFAULT_IAM_PROPAGATION, IamWait, check_iam_propagation
from .kernel_cache import adopt, attribute, path_of, stack_of
from .naming import digest, slug
from .options import RateLimits, RetryPolicy
from .quantities import check_cpu_and_memory
from .registry import claim_name, grant_once, project_key
from .secrets import SecretEnv, secret_refs
from .validation import (
    ConstructValidationError,
    ConstructWarning,
    check_duration,
    check_flag,
    check_labels,
    check_name,
    check_range,
    is_unresolved,
    parse_duration,
)

if TYPE_CHECKING:  # the stack's engine's classes at run time (engine.py)
    from types import ModuleType

    from cdktf import ITerraformDependable, TerraformProvider
    from cdktf_cdktf_provider_google.cloud_run_v2_job import CloudRunV2Job
    from cdktf_cdktf_provider_google.cloud_run_v2_job_iam_member import CloudRunV2JobIamMember
    from cdktf_cdktf_provider_google.cloud_run_v2_service import CloudRunV2Service
    from cdktf_cdktf_provider_google.monitoring_alert_policy import MonitoringAlertPolicy
    from cdktf_cdktf_provider_google.monitoring_dashboard import MonitoringDashboard
    from cdktf_cdktf_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember


# Warnings point at the line that made the construct, not at this package or jsii.
_NOT_THE_CALLER = (os.path.dirname(__file__), os.path.dirname(jsii.__file__))


class QueueWorker(Construct):
    """A Cloud Tasks queue whose tasks run as executions of a Cloud Run v2 job.

    Creates the queue, the job, the job's runtime service account (`service_account`),
    and an invoker service account (`invoker`) that Cloud Tasks (and schedulers) call
    with. The invoker may start this job as it is defined (`roles/run.invoker` on it),
    and nothing else until you say so (`allow_push_to_service`, `allow_task_overrides`).

    Options, with their defaults:
      name: the queue's and the job's name (1-63 lowercase letters, digits, hyphens,
        starting with a letter). Service account ids are derived from it and always fit;
        two constructs that would derive the same id in one project are refused.
      image: the container image the job runs.
      region: where the queue and the job live (e.g. "europe-west1").
      project: the project; default the provider's.
      command: the container's entrypoint; default the image's.
      args: the container's arguments; default the image's. Tasks start the job as it
        is defined, with these; a ScheduledTrigger's `args` replace the whole list for
        its runs: put what every run needs in `command`.
      env: plain environment variables; default none.
      secret_env: variables read from Secret Manager ({name: SecretEnv or secret id or
        "projects/P/secrets/S"}); the runtime identity is granted access to each of
        those secrets only.
      cpu: "1" (1, 2, 4, 6 or 8 vCPU, as a Kubernetes quantity: "2", "2000m").
        memory: "512Mi" (any Kubernetes quantity: "1Gi", "1G"); the range allowed
        depends on cpu: 512Mi-4Gi for 1, 512Mi-8Gi for 2, 2Gi-16Gi for 4, 4Gi-24Gi
        for 6, 4Gi-32Gi for 8.
      timeout: "600s", how long one attempt of a task may run (at most 168h;
        above 24h is a Preview feature).
      max_retries: 3, retries of a failed task within an execution (0-10).
      task_count: 1, tasks per execution (1-10000): each job task starts one
        execution of this many tasks. parallelism: None (as many as possible), at most
        task_count.
      labels: none. deletion_protection: True: Terraform refuses to delete the job,
        and on hashicorp/google 8.x (cdktn) the queue too (`deletion_policy`, which 6.50
        lacks), whose name Cloud Tasks keeps from reuse for 7 days after a delete.
      retry: RetryPolicy(), Cloud Tasks' defaults. rate_limits: RateLimits() (1/s, 10
        at once). logging_sampling_ratio: None (no task logs), else 0.0-1.0.
      worker_can_enqueue: False; True sets `producer_environment` on the job and grants
        its runtime identity `grant_enqueue`, for tasks that enqueue tasks.
      allow_task_overrides: False: the invoker gets `roles/run.invoker` on the job, so a
        task's `jobs:run` call can start the job only as it is defined. True grants it
        `roles/run.jobsExecutorWithOverrides` instead (`run.jobs.runWithOverrides`),
        for tasks whose calls override the execution: then whoever may enqueue
        (`grant_enqueue`) can run the job's image with any args, env, task count and
        timeout, as the job's runtime identity, with whatever it may read and do.
      runtime_service_account / invoker_service_account: None (created); the email of
        an existing service account to use instead (nothing is created for it), for
        organizations that do not let stacks create service accounts.
      provider: None (the stack's default); a GoogleProvider (e.g. an aliased one for
        another project) that every resource of this worker uses.
      depends_on: none; resources (e.g. `google_project_service`) that every resource
        this construct creates, grants made later included, waits for.
      iam_propagation: "120s": how long the job's creation waits after its runtime
        identity and the grants it needs (secrets; more with `wait_for_grants`) are made,
        for IAM to take effect (Google: typically 2 minutes, sometimes 7 or more;
        constructs_lib/iam_wait.py). Waited again only when one of them changes; "0s"
        for none.
      monitoring: None (no alert policies); Monitoring(...) makes alert policies on the
        metrics Google publishes (`alerts`: "backlog", the queue holds too many tasks for
        too long; "failing_attempts", attempts answered other than ok; "failed_executions",
        executions of the job that failed) and, unless `dashboard=False`, a dashboard
        (`dashboard`), with its thresholds and notification channels (constructs_lib/alerts.py).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        image: str,
        region: str,
        project: str | None = None,
        command: Sequence[str] | None = None,
        args: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        secret_env: Mapping[str, SecretEnv | str] | None = None,
        cpu: str = "1",
        memory: str = "512Mi",
        timeout: str = "600s",
        max_retries: int = 3,
        task_count: int = 1,
        parallelism: int | None = None,
        labels: Mapping[str, str] | None = None,
        deletion_protection: bool = True,
        retry: RetryPolicy = RetryPolicy(),
        rate_limits: RateLimits = RateLimits(),
        logging_sampling_ratio: float | None = None,
        worker_can_enqueue: bool = False,
        allow_task_overrides: bool = False,
        runtime_service_account: str | None = None,
        invoker_service_account: str | None = None,
        provider: TerraformProvider | None = None,
        depends_on: Sequence[ITerraformDependable] | None = None,
        iam_propagation: str = DEFAULT_IAM_PROPAGATION,
        monitoring: Monitoring | None = None,
    ) -> None:
        super().__init__(scope, id)
        self._path = adopt(self, scope, id)
        what = self._what = f"QueueWorker {self._path}"
        self.node.add_validation(RefuseNodeDependencies(self, what))
        check_name(what, "name", name, limits.JOB_NAME, limits.JOB_NAME_RULE)
        check_image(what, "image", image)
        check_name(what, "region", region, limits.REGION, limits.REGION_RULE)
        check_strings(what, "command", command)
        check_strings(what, "args", args)
        check_env(what, "env", env)
        secrets = secret_refs(what, "secret_env", secret_env)
        _check_env_names(what, env or {}, secrets, worker_can_enqueue)
        check_cpu_and_memory(what, cpu, memory)
        check_duration(what, "timeout", timeout, minimum=1, maximum=limits.JOB_TASK_TIMEOUT_SECONDS)
        check_range(what, "max_retries", max_retries, minimum=0, maximum=limits.JOB_MAX_RETRIES)
        check_range(what, "task_count", task_count, minimum=1, maximum=limits.JOB_MAX_TASK_COUNT)
        check_range(what, "parallelism", parallelism, minimum=0, maximum=limits.JOB_MAX_TASK_COUNT)
        if _known(parallelism) and _known(task_count) and parallelism > task_count:
            raise ConstructValidationError(what, "parallelism", parallelism, f"at most task_count ({task_count})")
        check_labels(what, "labels", labels)
        check_flag(what, "allow_task_overrides", allow_task_overrides)
        check_flag(what, "deletion_protection", deletion_protection)
        check_iam_propagation(what, "iam_propagation", iam_propagation)
        retry.check(what)
        rate_limits.check(what)
        check_range(what, "logging_sampling_ratio", logging_sampling_ratio,
                    minimum=limits.SAMPLING_RATIO_RANGE[0], maximum=limits.SAMPLING_RATIO_RANGE[1], integer=False)
        if monitoring is not None:
            if not isinstance(monitoring, Monitoring):
                raise ConstructValidationError(what, "monitoring", monitoring, "None or a constructs_lib.Monitoring")
            monitoring.check(what)

        check_env_count(what, "env", len(env or {}) + len(secrets) + (len(producer_env.ALL) if worker_can_enqueue else 0))
        _warn_if_executions_can_pile_up(what, rate_limits, timeout)

        self.name = name
        self.region = region
        self.task_count = task_count
        self.provider = provider
        self._stack = stack_of(self)
        self._engine = engine = engine_of(self)
        self._project_key = project_key(self._stack, project, provider)
        claim_name(self._stack, what, "Cloud Tasks queue / Cloud Run job", self._project_key, name, region=region)
        # Account ids are derived from the name, or from this construct's path when the
        # name is only known at apply time.
        plan = {"name": slug(self._path) if is_unresolved(name) else name, "stack": self._stack,
                "project_key": self._project_key}
        runtime = Identity.plan(what, "runtime_service_account", runtime_service_account, suffix="worker", **plan)
        # Cloud Tasks mints its tokens only for "a service account within the same project
        # as the queue" (tasks/docs/reference/rest/v2/OidcToken).
        invoker = Identity.plan(what, "invoker_service_account", invoker_service_account, suffix="invoker",
                                same_project=True, **plan)

        # Passed to every resource, grants made later included.
        self._resource_options: dict[str, Any] = {
            "provider": provider, "depends_on": list(depends_on) if depends_on else None,
        }
        self._grant_ids: dict[str, str] = {}
        self.service_account, self.service_account_email = runtime.make(
            self, "runtime", display_name=f"Runtime identity of the {name} worker job", project=project,
            resource_options=self._resource_options,
        )
        self.invoker, self.invoker_email = invoker.make(
            self, "invoker", display_name=f"Identity Cloud Tasks and schedulers use to start {name}", project=project,
            resource_options=self._resource_options,
        )
        self.queue = engine.google("cloud_tasks_queue").CloudTasksQueue(
            self, "queue", name=name, location=region, project=project,
            retry_config=retry.terraform(), rate_limits=rate_limits.terraform(),
            # 0.0 logs nothing, as a queue without the block does; the provider would drop
            # the 0.0 and leave an empty block that never matches what Google returns.
            stackdriver_logging_config={"sampling_ratio": logging_sampling_ratio} if logging_sampling_ratio else None,
            **_queue_deletion_policy(engine, deletion_protection),
            **self._resource_options,
        )

        job_env = dict(env or {})
        if worker_can_enqueue:
            job_env.update(self.producer_environment)
        runtime_member = service_account_member(self.service_account_email)
        secret_grants = [
            self._grant_secret(grant_name, ref.iam_target(project), runtime_member)
            for grant_name, ref in zip(_secret_grant_names(secrets), secrets.values())
        ]
        # Cloud Run checks that the runtime identity may read the secrets when it creates
        # the job: a job created before its grants take effect fails, and stays tainted.
        self.iam_wait = IamWait(
            self, "iam-propagation", duration=iam_propagation,
            grants=[*([self.service_account] if self.service_account else []), *secret_grants],
            depends_on=self._resource_options["depends_on"],
        )
        job_module = engine.google("cloud_run_v2_job")
        self.job = job_module.CloudRunV2Job(
            self, "job", name=name, location=region, project=project, labels=labels,
            deletion_protection=deletion_protection,
            **{**self._resource_options, "depends_on": [*(self._resource_options["depends_on"] or []),
                                                        self.iam_wait.sleep]},
            template={
                "task_count": task_count,
                "parallelism": parallelism,
                "template": {
                    "service_account": self.service_account_email,
                    "timeout": timeout,
                    "max_retries": max_retries,
                    # Items of lists must be typed structs: jsii passes plain dicts in
                    # lists through unconverted, and snake_case keys would be lost.
                    "containers": [job_module.CloudRunV2JobTemplateTemplateContainers(
                        image=image,
                        command=list(command) if command is not None else None,
                        args=list(args) if args is not None else None,
                        env=_container_env(job_module, job_env, secrets),
                        resources={"limits": {"cpu": cpu, "memory": memory}},
                    )],
                },
            },
        )
        # Google's one permission for overrides covers args, env, task count and timeout
        # together (https://cloud.google.com/run/docs/reference/iam/permissions): granted
        # only when asked for.
        self.grant_run(self, "invoker-runs-job", run_api.run_role(has_overrides=allow_task_overrides),
                       service_account_member(self.invoker_email))
        if worker_can_enqueue:
            self.grant_enqueue(runtime_member, id="worker")
        self.alerts: dict[str, MonitoringAlertPolicy] = {}
        self.dashboard: MonitoringDashboard | None = None
        if monitoring is not None:
            where = {"name": name, "region": region, "project": self.project, "resource_options": self._resource_options}
            self.alerts = queue_worker_policies(self, monitoring=monitoring, **where)
            if monitoring.dashboard:
                self.dashboard = queue_worker_dashboard(self, "dashboard", **where)

    # Read from the kernel only when asked for (a round trip each): a worker nothing
    # enqueues onto never needs them.
    @cached_property
    def project(self) -> str:
        """The project (the provider's when `project` was not given), as a reference."""
        return attribute(self.queue, "project")

    @cached_property
    def job_path(self) -> str:
        """projects/P/locations/L/jobs/J of this worker's job."""
        return run_api.job_path(self.project, self.region, self.name)

    @cached_property
    def producer_environment(self) -> dict[str, str]:
        """The environment variables a producer needs to enqueue onto this worker."""
        return {
            producer_env.QUEUE_PATH: attribute(self.queue, "id"),
            producer_env.INVOKER_EMAIL: self.invoker_email,
            producer_env.JOB_PATH: self.job_path,
        }

    def wait_for_grants(self, *grants: ITerraformDependable) -> None:
        """Make the job wait for these grants to its runtime identity, made after the
        worker (e.g. a database client role), and for them to take effect."""
        self.iam_wait.add(*grants)

    def _grant_secret(
        self, construct_id: str, secret: tuple[str, str | None], member: str
    ) -> SecretManagerSecretIamMember:
        secret_id, project = secret
        # A secret id names a secret of the worker's project; a path names its own.
        target = ("secret", secret_id) if secret_id.startswith("projects/") else ("secret", self._project_key, secret_id)
        member_class = self._engine.google("secret_manager_secret_iam_member").SecretManagerSecretIamMember
        return grant_once(self._stack, target, ROLE_SECRET_ACCESSOR, member, lambda: member_class(
            self, construct_id, secret_id=secret_id, project=project, role=ROLE_SECRET_ACCESSOR, member=member,
            **self._resource_options,
        ))

    def grant_enqueue(
        self, member: str, *, id: str | None = None, allow_many_identities: bool = False,
    ) -> list[ITerraformDependable]:
        """Let `member` (e.g. "serviceAccount:web@p.iam.gserviceaccount.com") enqueue
        tasks on this queue that run as the invoker: `roles/cloudtasks.enqueuer` on
        this queue and `roles/iam.serviceAccountUser` on the invoker account, nothing more.

        Whoever can enqueue can run any task and start the job (with any args and env,
        too, under `allow_task_overrides`), so `member` must be one identity
        ("serviceAccount:", "user:", "principal://"); a group, a domain or a principal
        set needs `allow_many_identities=True`. `id` names the grant's
        resources; default derived from the member. Granting a member twice makes one
        binding. Returns the two grants, for what must wait for them (`wait_for_grants`).
        """
        check_member(self._what, "grant_enqueue member", member, allow_many=allow_many_identities)
        key = grant_id(self._what, member, id, self._grant_ids)
        queue_member = self._engine.google("cloud_tasks_queue_iam_member").CloudTasksQueueIamMember
        account_member = self._engine.google("service_account_iam_member").ServiceAccountIamMember
        enqueue = grant_once(self._stack, ("queue", self._path), ROLE_ENQUEUER, member, lambda: queue_member(
            self, f"enqueue-{key}", name=attribute(self.queue, "name"), location=attribute(self.queue, "location"),
            project=self.project, role=ROLE_ENQUEUER, member=member, **self._resource_options,
        ))
        invoker = attribute(self.invoker, "name") if self.invoker else service_account_path(self.invoker_email)
        act_as = grant_once(self._stack, ("service account", self.invoker_email), ROLE_SERVICE_ACCOUNT_USER, member,
                            lambda: account_member(
                                self, f"act-as-invoker-{key}", service_account_id=invoker,
                                role=ROLE_SERVICE_ACCOUNT_USER, member=member, **self._resource_options,
                            ))
        return [enqueue, act_as]

    def grant_run(self, scope: Construct, construct_id: str, role: str, member: str,
                  resource_options: Mapping[str, Any] | None = None) -> CloudRunV2JobIamMember:
        """`role` for `member` on this worker's job (one binding per stack), made in `scope`."""
        return grant_once(self._stack, ("job", self._path), role, member, lambda: job_grant(
            scope, construct_id, self.job, role, member,
            self._resource_options if resource_options is None else resource_options,
        ))

    def allow_push_to_service(self, service: CloudRunV2Service) -> None:
        """Let tasks be pushed over HTTP (OIDC token of the invoker) to `service`:
        `roles/run.invoker` on that one service."""
        member = service_account_member(self.invoker_email)
        service_member = self._engine.google("cloud_run_v2_service_iam_member").CloudRunV2ServiceIamMember
        grant_once(self._stack, ("run service", path_of(service)), ROLE_RUN_INVOKER, member,
                   lambda: service_member(
                       self, f"invoker-calls-{service.node.id}", name=attribute(service, "name"),
                       location=attribute(service, "location"), project=attribute(service, "project"),
                       role=ROLE_RUN_INVOKER, member=member, **self._resource_options,
                   ))


def job_grant(
    scope: Construct, construct_id: str, job: CloudRunV2Job, role: str, member: str, resource_options: Mapping[str, Any],
) -> CloudRunV2JobIamMember:
    """`role` for `member` on one Cloud Run job (never on the project)."""
    return engine_of(scope).google("cloud_run_v2_job_iam_member").CloudRunV2JobIamMember(
        scope, construct_id, name=attribute(job, "name"), location=attribute(job, "location"),
        project=attribute(job, "project"), role=role, member=member, **resource_options,
    )


def _known(value: Any) -> bool:
    return value is not None and not is_unresolved(value)


def _secret_grant_names(secrets: Mapping[str, SecretEnv]) -> list[str]:
    """A construct id for each secret's grant, from its variable's name: lowercased, as
    grants were always named, unless two names differ only in case (both valid variable
    names), which then keep their case apart with a short hash."""
    lowered = [name.lower() for name in secrets]
    return [f"runtime-reads-{low}" if lowered.count(low) == 1 else f"runtime-reads-{low}-{digest(name)}"
            for name, low in zip(secrets, lowered)]


def _check_env_names(what: str, env: Mapping[str, str], secrets: Mapping[str, SecretEnv], worker_can_enqueue: bool) -> None:
    for env_name in secrets:
        check_env_name(what, "secret_env", env_name)
        if env_name in env:
            raise ConstructValidationError(what, "secret_env", env_name, "a name not also given in env")
    if worker_can_enqueue:
        for env_name in producer_env.ALL:
            if env_name in env or env_name in secrets:
                raise ConstructValidationError(
                    what, "env", env_name, "a name the worker does not already get from worker_can_enqueue=True"
                )


def _warn_if_executions_can_pile_up(what: str, rate_limits: RateLimits, timeout: str) -> None:
    """Each job task starts an execution and is done when it has started; the queue's
    rate bounds the starts, not the executions still running. Warn when the rate over
    one timeout could start more than Cloud Run lets run at once in a region."""
    rate = rate_limits.max_dispatches_per_second
    if is_unresolved(rate) or is_unresolved(timeout):
        return
    seconds = parse_duration(what, "timeout", timeout)
    running = float(rate) * float(seconds)
    limit = limits.MAX_RUNNING_EXECUTIONS_PER_REGION
    if running > limit:
        warnings.warn(
            f"{what}: rate_limits.max_dispatches_per_second={rate} with timeout={timeout!r} could have "
            f"{running:,.0f} job executions running at once, above Cloud Run's {limit:,} per project and region "
            f"(further jobs:run calls then fail and are retried); lower the rate to {limit / float(seconds):.3g}/s "
            "or the timeout if tasks can run that long",
            ConstructWarning, skip_file_prefixes=_NOT_THE_CALLER,
        )


def _queue_deletion_policy(engine: Engine, deletion_protection: bool) -> dict[str, str]:
    """The queue's share of `deletion_protection`, where the provider has one."""
    return {"deletion_policy": "PREVENT"} if deletion_protection and engine.has_deletion_policy else {}


def _container_env(job_module: ModuleType, env: Mapping[str, str], secrets: Mapping[str, SecretEnv]) -> list[Any] | None:
    """The job container's env entries (`job_module`: the engine's cloud_run_v2_job)."""
    entry = job_module.CloudRunV2JobTemplateTemplateContainersEnv
    entries = [entry(name=k, value=v) for k, v in env.items()]
    entries += [
        entry(
            name=k, value_source={"secret_key_ref": {"secret": ref.secret, "version": ref.version}}
        )
        for k, ref in secrets.items()
    ]
    return entries or None

"""QueueWorker: a Cloud Tasks queue, the Cloud Run v2 job that does its work, and the
two identities and least IAM that make it run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_google.cloud_run_v2_job import (
    CloudRunV2Job,
    CloudRunV2JobTemplateTemplateContainers,
    CloudRunV2JobTemplateTemplateContainersEnv,
)
from cdktf_cdktf_provider_google.cloud_run_v2_job_iam_member import CloudRunV2JobIamMember
from cdktf_cdktf_provider_google.cloud_run_v2_service import CloudRunV2Service
from cdktf_cdktf_provider_google.cloud_run_v2_service_iam_member import CloudRunV2ServiceIamMember
from cdktf_cdktf_provider_google.cloud_tasks_queue import CloudTasksQueue
from cdktf_cdktf_provider_google.cloud_tasks_queue_iam_member import CloudTasksQueueIamMember
from cdktf_cdktf_provider_google.secret_manager_secret_iam_member import SecretManagerSecretIamMember
from cdktf_cdktf_provider_google.service_account import ServiceAccount
from cdktf_cdktf_provider_google.service_account_iam_member import ServiceAccountIamMember
from constructs import Construct

from . import limits, producer_env, run_api
from .iam import (
    ROLE_ENQUEUER,
    ROLE_RUN_INVOKER,
    ROLE_SECRET_ACCESSOR,
    ROLE_SERVICE_ACCOUNT_USER,
    check_member,
    grant_id,
    service_account_member,
)
from .naming import service_account_id, slug
from .options import RateLimits, RetryPolicy, SecretEnv
from .registry import claim_name
from .validation import (
    ConstructValidationError,
    check_duration,
    check_labels,
    check_name,
    check_range,
    is_unresolved,
    check_choice,
    parse_memory_mib,
)

# Set by Cloud Run on every job task; a container env var of the same name is refused.
RESERVED_ENV = frozenset(
    {"CLOUD_RUN_JOB", "CLOUD_RUN_EXECUTION", "CLOUD_RUN_TASK_INDEX", "CLOUD_RUN_TASK_ATTEMPT", "CLOUD_RUN_TASK_COUNT"}
)


class QueueWorker(Construct):
    """A Cloud Tasks queue whose tasks run as executions of a Cloud Run v2 job.

    Creates the queue, the job, the job's runtime service account (`service_account`),
    and an invoker service account (`invoker`) that Cloud Tasks (and schedulers) call
    with. The invoker may run this job with overrides (each task passes its own args),
    and nothing else until you say so (`allow_push_to_service`).

    Options, with their defaults:
      name: the queue's and the job's name (1-63 lowercase letters, digits, hyphens,
        starting with a letter). Service account ids are derived from it and always fit.
      image: the container image the job runs.
      region: where the queue and the job live (e.g. "europe-west1").
      project: the project; default the provider's.
      command / args: the container's entrypoint and arguments; default the image's.
      env: plain environment variables; default none.
      secret_env: variables read from Secret Manager ({name: SecretEnv or secret id});
        the runtime identity is granted access to each of those secrets only.
      cpu: "1" (allowed "1", "2", "4", "6", "8"). memory: "512Mi"; the range allowed
        depends on cpu: 512Mi-4Gi for 1, 512Mi-8Gi for 2, 2Gi-16Gi for 4, 4Gi-24Gi
        for 6, 4Gi-32Gi for 8.
      timeout: "600s", how long one attempt of a task may run (at most 168h;
        above 24h is a Preview feature).
      max_retries: 3, retries of a failed task within an execution (0-10).
      task_count: 1, tasks per execution (1-10000). parallelism: None (as many as
        possible), at most task_count.
      labels: none. deletion_protection: True (Terraform refuses to delete the job).
      retry: RetryPolicy(), Cloud Tasks' defaults. rate_limits: RateLimits() (5/s, 10
        at once). logging_sampling_ratio: None (no task logs), else 0.0-1.0.
      worker_can_enqueue: False; True sets `producer_environment` on the job and grants
        its runtime identity `grant_enqueue`, for tasks that enqueue tasks.
      depends_on: none; resources (e.g. `google_project_service`) that every resource
        this construct creates, grants made later included, waits for.
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
        depends_on: Sequence[ITerraformDependable] | None = None,
    ) -> None:
        super().__init__(scope, id)
        what = f"QueueWorker {self.node.path}"
        check_name(what, "name", name, limits.JOB_NAME, limits.JOB_NAME_RULE)
        claim_name(self, "Cloud Tasks queue / Cloud Run job", name, what)
        _check_resources(what, cpu, memory)
        check_duration(what, "timeout", timeout, minimum=1, maximum=limits.JOB_TASK_TIMEOUT_SECONDS)
        check_range(what, "max_retries", max_retries, minimum=0, maximum=limits.JOB_MAX_RETRIES)
        check_range(what, "task_count", task_count, minimum=1, maximum=limits.JOB_MAX_TASK_COUNT)
        check_range(what, "parallelism", parallelism, minimum=0, maximum=limits.JOB_MAX_TASK_COUNT)
        if _known(parallelism) and _known(task_count) and parallelism > task_count:
            raise ConstructValidationError(what, "parallelism", parallelism, f"at most task_count ({task_count})")
        check_labels(what, "labels", labels)
        retry.check(what)
        rate_limits.check(what)
        check_range(what, "logging_sampling_ratio", logging_sampling_ratio,
                    minimum=limits.SAMPLING_RATIO_RANGE[0], maximum=limits.SAMPLING_RATIO_RANGE[1], integer=False)
        secrets = {key: SecretEnv(value) if isinstance(value, str) else value for key, value in (secret_env or {}).items()}

        self.name = name
        self.region = region
        # Passed to every resource, grants made later included: one list, or None.
        self._depends_on = list(depends_on) if depends_on else None
        self._grant_ids: set[str] = set()

        # Account ids are derived from the name, or from this construct's path when the
        # name is only known at apply time.
        id_base = slug(self.node.path) if is_unresolved(name) else name
        self.service_account = ServiceAccount(
            self, "runtime", account_id=service_account_id(id_base, "worker"), project=project,
            display_name=f"Runtime identity of the {name} worker job"[:100], depends_on=self._depends_on,
        )
        self.invoker = ServiceAccount(
            self, "invoker", account_id=service_account_id(id_base, "invoker"), project=project,
            display_name=f"Identity Cloud Tasks and schedulers use to start {name}"[:100], depends_on=self._depends_on,
        )
        self.queue = CloudTasksQueue(
            self, "queue", name=name, location=region, project=project,
            retry_config=retry.terraform(), rate_limits=rate_limits.terraform(),
            stackdriver_logging_config=(
                {"sampling_ratio": logging_sampling_ratio} if logging_sampling_ratio is not None else None
            ),
            depends_on=self._depends_on,
        )
        # The queue's project attribute is the provider's when `project` is None:
        # one source for both resource paths below.
        self.project = self.queue.project
        self.job_path = run_api.job_path(self.project, region, name)
        self.producer_environment: dict[str, str] = {
            producer_env.QUEUE_PATH: self.queue.id,
            producer_env.INVOKER_EMAIL: self.invoker.email,
            producer_env.JOB_PATH: self.job_path,
        }

        job_env = dict(env or {})
        if worker_can_enqueue:
            job_env.update(self.producer_environment)
        _check_env(what, env or {}, secrets, self.producer_environment if worker_can_enqueue else {})
        secret_grants = [
            SecretManagerSecretIamMember(
                self, f"runtime-reads-{env_name.lower()}", secret_id=ref.secret, project=project,
                role=ROLE_SECRET_ACCESSOR, member=service_account_member(self.service_account),
                depends_on=self._depends_on,
            )
            for env_name, ref in secrets.items()
        ]
        # Cloud Run checks that the runtime identity may read the secrets when it creates
        # the job: a job created before its grants fails, and stays tainted.
        self.job = CloudRunV2Job(
            self, "job", name=name, location=region, project=project, labels=labels,
            deletion_protection=deletion_protection, depends_on=[*(self._depends_on or []), *secret_grants] or None,
            template={
                "task_count": task_count,
                "parallelism": parallelism,
                "template": {
                    "service_account": self.service_account.email,
                    "timeout": timeout,
                    "max_retries": max_retries,
                    # Items of lists must be typed structs: jsii passes plain dicts in
                    # lists through unconverted, and snake_case keys would be lost.
                    "containers": [CloudRunV2JobTemplateTemplateContainers(
                        image=image,
                        command=list(command) if command is not None else None,
                        args=list(args) if args is not None else None,
                        env=_container_env(job_env, secrets),
                        resources={"limits": {"cpu": cpu, "memory": memory}},
                    )],
                },
            },
        )
        # Tasks start executions with their own args: that needs runWithOverrides.
        CloudRunV2JobIamMember(
            self, "invoker-runs-job", name=self.job.name, location=self.job.location, project=self.job.project,
            role=run_api.ROLE_RUN_WITH_OVERRIDES, member=service_account_member(self.invoker),
            depends_on=self._depends_on,
        )
        if worker_can_enqueue:
            self.grant_enqueue(service_account_member(self.service_account), id="worker")

    def grant_enqueue(self, member: str, *, id: str | None = None) -> None:
        """Let `member` (e.g. "serviceAccount:web@p.iam.gserviceaccount.com") enqueue
        tasks on this queue that run as the invoker: `roles/cloudtasks.enqueuer` on
        this queue and `roles/iam.serviceAccountUser` on the invoker account, nothing more.
        `id` names the grant's resources; default derived from the member."""
        check_member(f"QueueWorker {self.node.path}", "grant_enqueue member", member)
        key = grant_id(self, member, id, self._grant_ids)
        CloudTasksQueueIamMember(
            self, f"enqueue-{key}", name=self.queue.name, location=self.queue.location, project=self.queue.project,
            role=ROLE_ENQUEUER, member=member, depends_on=self._depends_on,
        )
        ServiceAccountIamMember(
            self, f"act-as-invoker-{key}", service_account_id=self.invoker.name,
            role=ROLE_SERVICE_ACCOUNT_USER, member=member, depends_on=self._depends_on,
        )

    def allow_push_to_service(self, service: CloudRunV2Service) -> None:
        """Let tasks be pushed over HTTP (OIDC token of the invoker) to `service`:
        `roles/run.invoker` on that one service."""
        CloudRunV2ServiceIamMember(
            self, f"invoker-calls-{service.node.id}", name=service.name, location=service.location,
            project=service.project, role=ROLE_RUN_INVOKER, member=service_account_member(self.invoker),
            depends_on=self._depends_on,
        )


def _known(value: Any) -> bool:
    return value is not None and not is_unresolved(value)


def _check_resources(what: str, cpu: str, memory: str) -> None:
    if is_unresolved(cpu) or is_unresolved(memory):
        return
    check_choice(what, "cpu", cpu, tuple(limits.JOB_CPU_MEMORY_MIB))
    mib = parse_memory_mib(what, "memory", memory)
    least, most = limits.JOB_CPU_MEMORY_MIB[cpu]
    if not least <= mib <= most:
        raise ConstructValidationError(what, "memory", memory, f"from {least}Mi to {most // 1024}Gi with cpu={cpu!r}")


def _check_env(what: str, env: Mapping[str, str], secrets: Mapping[str, SecretEnv], producer: Mapping[str, str]) -> None:
    for env_name in [*env, *secrets]:
        if env_name in RESERVED_ENV:
            raise ConstructValidationError(what, "env", env_name, "not a name Cloud Run sets itself: " + ", ".join(sorted(RESERVED_ENV)))
        if not env_name or "=" in env_name:
            raise ConstructValidationError(what, "env", env_name, "a non-empty name without '='")
    for env_name in secrets:
        if env_name in env:
            raise ConstructValidationError(what, "secret_env", env_name, "a name not also given in env")
    for env_name in producer:
        if env_name in env or env_name in secrets:
            raise ConstructValidationError(
                what, "env", env_name, "a name the worker does not already get from worker_can_enqueue=True"
            )


def _container_env(
    env: Mapping[str, str], secrets: Mapping[str, SecretEnv]
) -> list[CloudRunV2JobTemplateTemplateContainersEnv] | None:
    entries = [CloudRunV2JobTemplateTemplateContainersEnv(name=k, value=v) for k, v in env.items()]
    entries += [
        CloudRunV2JobTemplateTemplateContainersEnv(
            name=k, value_source={"secret_key_ref": {"secret": ref.secret, "version": ref.version}}
        )
        for k, ref in secrets.items()
    ]
    return entries or None

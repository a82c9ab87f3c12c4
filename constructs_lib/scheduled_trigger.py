"""ScheduledTrigger: a Cloud Scheduler job that starts a Cloud Run v2 job on a schedule."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from constructs import Construct

from . import limits, run_api
from .alerts import JobMonitoring, failed_executions_policy
from .dependencies import RefuseNodeDependencies
from .container_inputs import INTERPRETER_START_ENV, check_env, check_env_count, check_strings
from .engine import Engine, engine_of
from .iam import Identity, service_account_member
from .iam_wait import DEFAULT_IAM_PROPAGATION, IamWait, check_iam_propagation
from .kernel_cache import adopt, attribute, path_of, stack_of
from .naming import fit, slug
from .options import SchedulerRetry
from .queue_worker import QueueWorker, job_grant
from .registry import claim_name, claim_only_one, grant_once, project_key
from .schedules import check_schedule, check_time_zone
from .tokens import is_unresolved
from .validation import ConstructValidationError, check_duration, check_name, check_range

if TYPE_CHECKING:  # the stack's engine's classes at run time (engine.py)
    from cdktf import ITerraformDependable, TerraformProvider
    from cdktf_cdktf_provider_google.cloud_run_v2_job import CloudRunV2Job
    from cdktf_cdktf_provider_google.cloud_run_v2_job_iam_member import CloudRunV2JobIamMember


class ScheduledTrigger(Construct):
    """Starts a Cloud Run v2 job (a QueueWorker's, or any `CloudRunV2Job`) on a schedule.

    Cloud Scheduler POSTs to the job's v2 `jobs:run` URI with an OAuth token of the
    trigger's own service account (`caller`), which is granted on that one job
    `roles/run.invoker`, or `roles/run.jobsExecutorWithOverrides` when the trigger
    overrides args, env or the task count.

    Options, with their defaults:
      job: the QueueWorker or CloudRunV2Job to start.
      schedule: unix-cron, five fields ("* * * * *" = every minute), or Cloud
        Scheduler's English-like format ("every 5 minutes", "every monday 09:00").
      name: the scheduler job's name (letters, digits, "-", "_"; up to 500); default
        derived from this construct's path.
      region: the scheduler job's region; default the job's.
      args / env: per-run overrides of the job container's args and env; default none.
        env follows the job's rules and may not set variables that change how the
        container's interpreter starts (PYTHONPATH, LD_PRELOAD, NODE_OPTIONS, ...).
      task_count: 1, tasks in each execution this trigger starts (sent as an override
        only when the job's own count differs); None runs the job's own count.
      time_zone: "UTC" (a tz database name).
      description: none. paused: False.
      attempt_deadline: None (Cloud Scheduler's 180s), else 15s-1800s.
      retry: SchedulerRetry(), Cloud Scheduler's defaults (no retries).
      caller_service_account: None (created); the email of an existing service account
        to call with instead.
      provider: the job's (a QueueWorker's `provider`, or the CloudRunV2Job's).
      depends_on: none; resources (e.g. `google_project_service`) that every resource
        this construct creates waits for.
      iam_propagation: "120s": how long the scheduler job's creation waits after the
        caller's grant on the job, for IAM to take effect (constructs_lib/iam_wait.py), so
        that its first runs are not refused; "0s" for none.
      monitoring: None; JobMonitoring(...) makes the failed-executions alert policy of
        a CloudRunV2Job (`alert`), for one trigger of that job. A QueueWorker's own
        `monitoring` covers its job's executions, scheduled ones included.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        job: QueueWorker | CloudRunV2Job,
        schedule: str,
        name: str | None = None,
        region: str | None = None,
        args: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        task_count: int | None = 1,
        time_zone: str = "UTC",
        description: str | None = None,
        paused: bool = False,
        attempt_deadline: str | None = None,
        retry: SchedulerRetry = SchedulerRetry(),
        caller_service_account: str | None = None,
        provider: TerraformProvider | None = None,
        depends_on: Sequence[ITerraformDependable] | None = None,
        iam_propagation: str = DEFAULT_IAM_PROPAGATION,
        monitoring: JobMonitoring | None = None,
    ) -> None:
        super().__init__(scope, id)
        path = adopt(self, scope, id)
        what = f"ScheduledTrigger {path}"
        self.node.add_validation(RefuseNodeDependencies(self, what))
        engine = engine_of(self)
        if not isinstance(job, (QueueWorker, engine.google("cloud_run_v2_job").CloudRunV2Job)):
            raise ConstructValidationError(
                what, "job", job, f"a QueueWorker, or a CloudRunV2Job made with {engine} (this stack's engine)"
            )
        name = name if name is not None else fit(slug(path), "", 500)
        check_name(what, "name", name, limits.SCHEDULER_NAME, limits.SCHEDULER_NAME_RULE)
        check_schedule(what, "schedule", schedule)
        check_time_zone(what, "time_zone", time_zone)
        if region is not None:
            check_name(what, "region", region, limits.REGION, limits.REGION_RULE)
        check_duration(what, "attempt_deadline", attempt_deadline,
                       minimum=limits.SCHEDULER_MIN_ATTEMPT_DEADLINE, maximum=limits.SCHEDULER_MAX_ATTEMPT_DEADLINE)
        retry.check(what)
        check_iam_propagation(what, "iam_propagation", iam_propagation)
        if description is not None and not is_unresolved(description) and len(description) > limits.SCHEDULER_DESCRIPTION_MAX:
            raise ConstructValidationError(
                what, "description", description, f"at most {limits.SCHEDULER_DESCRIPTION_MAX} characters"
            )
        check_strings(what, "args", args, non_empty=True)
        check_env(what, "env", env, also_refused=INTERPRETER_START_ENV, why_refused=(
            "not a variable that changes how the container's interpreter starts ("
            + ", ".join(sorted(INTERPRETER_START_ENV)) + "): a per-run override would run other code than the image's"
        ))
        check_env_count(what, "env", len(env or {}))
        check_range(what, "task_count", task_count, minimum=1, maximum=limits.JOB_MAX_TASK_COUNT)
        stack = stack_of(self)
        _check_monitoring(what, monitoring, job, stack)

        target = _Target.of(job)
        provider = provider if provider is not None else target.provider
        region = region if region is not None else target.region
        claim_name(stack, what, "Cloud Scheduler job", target.project_key, name, region=region)
        # Cloud Scheduler mints OAuth tokens only for "a service account within the same
        # project as the job" (scheduler/docs/reference/rest/v1/projects.locations.jobs#OAuthToken).
        caller = Identity.plan(what, "caller_service_account", caller_service_account, suffix="sched", stack=stack,
                               name=slug(path) if is_unresolved(name) else name, project_key=target.project_key,
                               same_project=True)
        body = run_api.overrides_body(args, env, task_count if task_count != target.task_count else None)
        resource_options: dict[str, Any] = {"provider": provider, "depends_on": list(depends_on) if depends_on else None}

        self.caller, self.caller_email = caller.make(
            self, "caller", display_name=f"Cloud Scheduler caller of {name}", project=target.project,
            resource_options=resource_options,
        )
        grant = target.grant(
            self, "caller-runs-job", run_api.run_role(has_overrides=body is not None),
            service_account_member(self.caller_email), resource_options,
        )
        self.iam_wait = IamWait(self, "iam-propagation", duration=iam_propagation, grants=[grant],
                                depends_on=resource_options["depends_on"])
        self.scheduler_job = engine.google("cloud_scheduler_job").CloudSchedulerJob(
            self, "scheduler", name=name, region=region, project=target.project, schedule=schedule,
            time_zone=time_zone, description=description, paused=paused, attempt_deadline=attempt_deadline,
            retry_config=retry.terraform(), provider=provider,
            # A run before the grant takes effect would fail with 403 until the next tick.
            depends_on=[*(resource_options["depends_on"] or []), grant, self.iam_wait.sleep],
            http_target={
                "uri": run_api.run_uri(target.project, target.location, target.name),
                "http_method": "POST",
                # Google APIs take OAuth access tokens; an OIDC token would be refused.
                "oauth_token": {"service_account_email": self.caller_email, "scope": run_api.OAUTH_SCOPE},
                "headers": {"Content-Type": "application/json"} if body else None,
                "body": _encoded(engine, body) if body else None,
            },
        )
        self.alert = None if monitoring is None else failed_executions_policy(
            self, "alert-failed-executions", job=target.name, region=target.location, project=target.project,
            failed_executions=monitoring.failed_executions, window=monitoring.window,
            channels=monitoring.notification_channels, resource_options=resource_options,
        )


def _check_monitoring(what: str, monitoring: JobMonitoring | None, job: QueueWorker | CloudRunV2Job,
                      stack: Any) -> None:
    if monitoring is None:
        return
    if isinstance(job, QueueWorker):
        raise ConstructValidationError(
            what, "monitoring", monitoring,
            "None when the job is a QueueWorker: give the QueueWorker monitoring=Monitoring(...), whose "
            "failed-executions alert covers every execution of its job, this trigger's too",
        )
    if not isinstance(monitoring, JobMonitoring):
        raise ConstructValidationError(what, "monitoring", monitoring, "None or a constructs_lib.JobMonitoring")
    monitoring.check(what)
    claim_only_one(stack, what, "monitoring", monitoring, f"the failed-executions alert of {path_of(job)}",
                   ("job", path_of(job)))


def _encoded(engine: Engine, body: dict[str, object]) -> str:
    """The request body, base64-encoded as the provider wants it. A body that holds
    Terraform references is encoded by Terraform, after they resolve."""
    if is_unresolved(json.dumps(body)):
        fn = engine.core.Fn
        return fn.base64encode(fn.jsonencode(body))
    return base64.b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


class _Target:
    """What a trigger needs to know of the job it starts, whichever kind it is."""

    def __init__(self, job: QueueWorker | CloudRunV2Job) -> None:
        self.job = job

    @classmethod
    def of(cls, job: QueueWorker | CloudRunV2Job) -> _Target:
        return _WorkerTarget(job) if isinstance(job, QueueWorker) else _JobTarget(job)


class _WorkerTarget(_Target):
    job: QueueWorker

    def __init__(self, job: QueueWorker) -> None:
        super().__init__(job)
        self.provider = job.provider
        self.region = job.region
        self.project_key = job._project_key
        self.task_count = job.task_count
        self.name = attribute(job.job, "name")
        self.location = attribute(job.job, "location")
        self.project = attribute(job.job, "project")

    def grant(self, scope: Construct, construct_id: str, role: str, member: str,
              resource_options: Mapping[str, Any]) -> CloudRunV2JobIamMember:
        return self.job.grant_run(scope, construct_id, role, member, resource_options)


class _JobTarget(_Target):
    job: CloudRunV2Job

    def __init__(self, job: CloudRunV2Job) -> None:
        super().__init__(job)
        self.provider = attribute(job, "provider")
        self.region = self.location = attribute(job, "location")
        self.name = attribute(job, "name")
        self.project = attribute(job, "project")
        self.project_key = project_key(stack_of(job), attribute(job, "project_input"), self.provider)
        template = attribute(job, "template_input")
        count = getattr(template, "task_count", None)
        # Cloud Run runs one task per execution unless the job says otherwise.
        self.task_count = 1 if count is None else count

    def grant(self, scope: Construct, construct_id: str, role: str, member: str,
              resource_options: Mapping[str, Any]) -> CloudRunV2JobIamMember:
        return grant_once(stack_of(scope), ("job", path_of(self.job)), role, member,
                          lambda: job_grant(scope, construct_id, self.job, role, member, resource_options))

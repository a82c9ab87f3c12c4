"""ScheduledTrigger: a Cloud Scheduler job that starts a Cloud Run v2 job on a cron schedule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cdktf import Fn, ITerraformDependable
from cdktf_cdktf_provider_google.cloud_run_v2_job import CloudRunV2Job
from cdktf_cdktf_provider_google.cloud_run_v2_job_iam_member import CloudRunV2JobIamMember
from cdktf_cdktf_provider_google.cloud_scheduler_job import CloudSchedulerJob
from cdktf_cdktf_provider_google.service_account import ServiceAccount
from constructs import Construct

from . import limits, run_api
from .iam import service_account_member
from .naming import fit, service_account_id, slug
from .options import SchedulerRetry
from .queue_worker import QueueWorker
from .registry import claim_name
from .validation import (
    ConstructValidationError,
    check_cron,
    check_duration,
    check_name,
    check_time_zone,
    is_unresolved,
)


class ScheduledTrigger(Construct):
    """Starts a Cloud Run v2 job (a QueueWorker's, or any `CloudRunV2Job`) on a schedule.

    Cloud Scheduler POSTs to the job's v2 `jobs:run` URI with an OAuth token of the
    trigger's own service account (`caller`), which is granted on that one job
    `roles/run.invoker`, or `roles/run.jobsExecutorWithOverrides` when the trigger
    overrides args or env.

    Options, with their defaults:
      job: the QueueWorker or CloudRunV2Job to start.
      schedule: unix-cron, five fields ("* * * * *" = every minute).
      name: the scheduler job's name (letters, digits, "-", "_"; up to 500); default
        derived from this construct's path.
      region: the scheduler job's region; default the job's.
      args / env: per-run overrides of the job container's args and env; default none.
      time_zone: "UTC" (a tz database name).
      description: none. paused: False.
      attempt_deadline: None (Cloud Scheduler's 180s), else 15s-1800s.
      retry: SchedulerRetry(), Cloud Scheduler's defaults (no retries).
      depends_on: none; resources (e.g. `google_project_service`) that every resource
        this construct creates waits for.
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
        time_zone: str = "UTC",
        description: str | None = None,
        paused: bool = False,
        attempt_deadline: str | None = None,
        retry: SchedulerRetry = SchedulerRetry(),
        depends_on: Sequence[ITerraformDependable] | None = None,
    ) -> None:
        super().__init__(scope, id)
        what = f"ScheduledTrigger {self.node.path}"
        if not isinstance(job, (QueueWorker, CloudRunV2Job)):
            raise ConstructValidationError(what, "job", job, "a QueueWorker or a CloudRunV2Job")
        name = name if name is not None else fit(slug(self.node.path), "", 500)
        check_name(what, "name", name, limits.SCHEDULER_NAME, limits.SCHEDULER_NAME_RULE)
        check_cron(what, "schedule", schedule)
        check_time_zone(what, "time_zone", time_zone)
        check_duration(what, "attempt_deadline", attempt_deadline,
                       minimum=limits.SCHEDULER_MIN_ATTEMPT_DEADLINE, maximum=limits.SCHEDULER_MAX_ATTEMPT_DEADLINE)
        retry.check(what)
        if description is not None and not is_unresolved(description) and len(description) > limits.SCHEDULER_DESCRIPTION_MAX:
            raise ConstructValidationError(
                what, "description", description, f"at most {limits.SCHEDULER_DESCRIPTION_MAX} characters"
            )
        if args is not None and not args:
            raise ConstructValidationError(what, "args", args, "None to keep the job's args, or a non-empty list")

        cloud_run_job = job.job if isinstance(job, QueueWorker) else job
        location = job.region if isinstance(job, QueueWorker) else cloud_run_job.location
        project = cloud_run_job.project
        region = region if region is not None else location
        claim_name(self, f"Cloud Scheduler job in {region}", name, what)
        body = run_api.overrides_body(args, env)
        waits_for = list(depends_on) if depends_on else None

        self.caller = ServiceAccount(
            self, "caller", account_id=service_account_id(slug(self.node.path) if is_unresolved(name) else name, "sched"), project=project,
            display_name=f"Cloud Scheduler caller of {name}"[:100], depends_on=waits_for,
        )
        grant = CloudRunV2JobIamMember(
            self, "caller-runs-job", name=cloud_run_job.name, location=cloud_run_job.location, project=project,
            role=run_api.run_role(has_overrides=body is not None), member=service_account_member(self.caller),
            depends_on=waits_for,
        )
        self.scheduler_job = CloudSchedulerJob(
            self, "scheduler", name=name, region=region, project=project, schedule=schedule, time_zone=time_zone,
            description=description, paused=paused, attempt_deadline=attempt_deadline,
            retry_config=retry.terraform(),
            # A run before the grant exists would fail with 403 until the next tick.
            depends_on=[*(waits_for or []), grant],
            http_target={
                "uri": run_api.run_uri(project, cloud_run_job.location, cloud_run_job.name),
                "http_method": "POST",
                # Google APIs take OAuth access tokens; an OIDC token would be refused.
                "oauth_token": {"service_account_email": self.caller.email, "scope": run_api.OAUTH_SCOPE},
                "headers": {"Content-Type": "application/json"} if body else None,
                # The provider wants the body base64-encoded; Terraform encodes it
                # so that references inside the overrides resolve first.
                "body": Fn.base64encode(Fn.jsonencode(body)) if body else None,
            },
        )

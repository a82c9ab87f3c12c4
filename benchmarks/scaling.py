"""Synth time per QueueWorker + ScheduledTrigger: 1, 10 and 50 of them in one stack.

    uv run python benchmarks/scaling.py [--runs N]

Each measurement is a fresh interpreter that builds a stack of N pairs (a QueueWorker
with a ScheduledTrigger that overrides its args, as the app stack has) and synthesizes
it; it reports the time from the first construct to the end of `app.synth()`, so the
imports and the kernel's start, paid once per process, stay out of the marginal cost.
Three variants, after one warm-up run each, measured round robin (a change in the
machine's load then shows in all three alike):

- constructs: `constructs_lib` as it is (fast path);
- ordinary import: the same, with `import cdktf_cdktf_provider_google` first (every
  provider module loaded, as a stack that imports the package the ordinary way);
- raw resources: the same Terraform resources made directly with the provider's
  classes, no constructs: the floor the constructs' own work is measured against.

Marginal cost per pair = (t(50) - t(1)) / 49; linear when the cost per pair from 1 to
10 and from 10 to 50 agree. CPU per pair is the same difference in CPU time of python
and the jsii kernel's node processes (Linux), which a busy machine disturbs less than
wall time. The script checks that the constructs and the raw resources synthesize the
same resource types and counts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (1, 10, 50)
VARIANTS = ("constructs", "ordinary import", "raw resources")

# Builds and synthesizes N pairs; prints {"seconds": build + synth, "resources": {type: count}}.
PROBE = r'''
import json, os, sys, time, warnings
variant, pairs, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if variant == "ordinary import":
    import cdktf_cdktf_provider_google  # noqa: F401
import constructs_lib
from cdktf import App, TerraformStack
from cdktf_cdktf_provider_google.provider import GoogleProvider
from cdktf_cdktf_provider_google.cloud_run_v2_job import CloudRunV2Job, CloudRunV2JobTemplateTemplateContainers
from cdktf_cdktf_provider_google.cloud_run_v2_job_iam_member import CloudRunV2JobIamMember
from cdktf_cdktf_provider_google.cloud_scheduler_job import CloudSchedulerJob
from cdktf_cdktf_provider_google.cloud_tasks_queue import CloudTasksQueue
from cdktf_cdktf_provider_google.service_account import ServiceAccount

warnings.simplefilter("ignore", constructs_lib.ConstructWarning)  # the default rate warns; not measured
REGION, IMAGE, SCOPE = "europe-west1", "example/app:1", "https://www.googleapis.com/auth/cloud-platform"
BODY = "eyJvdmVycmlkZXMiOnsiY29udGFpbmVyT3ZlcnJpZGVzIjpbeyJhcmdzIjpbIi0tdGFzayIsIm5pZ2h0bHkiXX1dfX0="


def pair_of_constructs(stack, i):
    worker = constructs_lib.QueueWorker(stack, f"worker-{i}", name=f"worker-{i}", image=IMAGE, region=REGION,
                                        command=["python", "manage.py", "run_task"])
    constructs_lib.ScheduledTrigger(stack, f"nightly-{i}", job=worker, schedule="0 3 * * *",
                                    args=["--task", "nightly"])


def pair_of_resources(stack, i):
    runtime = ServiceAccount(stack, f"runtime-{i}", account_id=f"worker-{i}-worker")
    invoker = ServiceAccount(stack, f"invoker-{i}", account_id=f"worker-{i}-invoker")
    CloudTasksQueue(stack, f"queue-{i}", name=f"worker-{i}", location=REGION,
                    rate_limits={"max_dispatches_per_second": 5, "max_concurrent_dispatches": 10})
    job = CloudRunV2Job(stack, f"job-{i}", name=f"worker-{i}", location=REGION, deletion_protection=True, template={
        "task_count": 1, "template": {"service_account": runtime.email, "timeout": "600s", "max_retries": 3,
        "containers": [CloudRunV2JobTemplateTemplateContainers(
            image=IMAGE, command=["python", "manage.py", "run_task"],
            resources={"limits": {"cpu": "1", "memory": "512Mi"}})]}})
    name, location, project = job.name, job.location, job.project
    CloudRunV2JobIamMember(stack, f"invoker-runs-{i}", name=name, location=location, project=project,
                           role="roles/run.invoker", member=f"serviceAccount:{invoker.email}")
    caller = ServiceAccount(stack, f"caller-{i}", account_id=f"nightly-{i}-sched")
    caller_email = caller.email
    grant = CloudRunV2JobIamMember(stack, f"caller-runs-{i}", name=name, location=location, project=project,
                                   role="roles/run.jobsExecutorWithOverrides", member=f"serviceAccount:{caller_email}")
    CloudSchedulerJob(stack, f"nightly-{i}", name=f"nightly-{i}", region=REGION, project=project,
                      schedule="0 3 * * *", time_zone="UTC", depends_on=[grant], http_target={
        "uri": f"https://run.googleapis.com/v2/projects/{project}/locations/{location}/jobs/{name}:run",
        "http_method": "POST", "oauth_token": {"service_account_email": caller_email, "scope": SCOPE},
        "headers": {"Content-Type": "application/json"}, "body": BODY})


def children(pid):
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found = []
    for task in tasks:
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(c) for c in f.read().split()]
    return found + [grandchild for child in found for grandchild in children(child)]


def cpu_seconds():
    """CPU time of this process and of the jsii kernel's node processes (Linux: /proc)."""
    total = time.process_time()
    for pid in children(os.getpid()):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


GoogleProvider  # the kernel is running: both processes exist
cpu_start, start = cpu_seconds(), time.perf_counter()
app = App(outdir=outdir)
stack = TerraformStack(app, "scaling")
GoogleProvider(stack, "google", project="example-project")
make = pair_of_resources if variant == "raw resources" else pair_of_constructs
for i in range(pairs):
    make(stack, i)
app.synth()
seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
synthesized = json.load(open(f"{outdir}/stacks/scaling/cdk.tf.json"))
print(json.dumps({"seconds": seconds, "cpu": cpu,
                  "resources": {kind: len(by_id) for kind, by_id in synthesized["resource"].items()}}))
'''


def measure(variant: str, pairs: int) -> dict:
    with tempfile.TemporaryDirectory() as outdir:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", PROBE, variant, str(pairs), outdir],
                              cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{variant}, {pairs} pairs: failed\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def per_pair(by_size: dict[int, float], start: int, end: int) -> float:
    return (by_size[end] - by_size[start]) / (end - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs per variant and size (default 5)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    options = parser.parse_args()

    for variant in options.variants:
        measure(variant, SIZES[-1])  # warm-up: page cache, jsii package cache
    runs: dict[tuple[str, int], list[dict]] = {}
    # Round robin, so that a change in the machine's load shows in every variant alike.
    for _ in range(options.runs):
        for variant in options.variants:
            for pairs in SIZES:
                runs.setdefault((variant, pairs), []).append(measure(variant, pairs))

    print(f"build + synth of N QueueWorker + ScheduledTrigger pairs, median of {options.runs} fresh processes "
          f"({os.cpu_count()} CPUs, Python {platform.python_version()}); CPU = python + the kernel's node")
    print(f"{'variant':<16}" + "".join(f"{f'N={n}':>9}" for n in SIZES)
          + f"{'1→10':>9}{'10→50':>9}{'per pair':>9}{'CPU/pair':>10}")
    for variant in options.variants:
        wall = {n: statistics.median(r["seconds"] for r in runs[variant, n]) for n in SIZES}
        cpu = {n: statistics.median(r["cpu"] for r in runs[variant, n]) for n in SIZES}
        ms = [per_pair(wall, 1, 10), per_pair(wall, 10, 50), per_pair(wall, 1, 50), per_pair(cpu, 1, 50)]
        print(f"{variant:<16}" + "".join(f"{wall[n] * 1000:7.0f}ms" for n in SIZES)
              + "".join(f"{m * 1000:7.1f}ms" for m in ms[:3]) + f"{ms[3] * 1000:8.1f}ms")
    resources = {variant: runs[variant, SIZES[-1]][0]["resources"] for variant in options.variants}
    if "constructs" in resources and "raw resources" in resources:
        same = resources["constructs"] == resources["raw resources"]
        print(f"same resource types and counts, constructs and raw: {'yes' if same else 'NO'}")
        if not same:
            sys.exit(f"constructs: {resources['constructs']}\nraw: {resources['raw resources']}")


if __name__ == "__main__":
    main()

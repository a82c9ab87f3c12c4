"""scripts/deploy.sh runs the migration before the web service gets the new image, and
destroys with exactly the variables the deployment was applied with.

There is no Google account here: gcloud, docker and terraform are stand-ins that log how
they were called (and fail on cue); the stack is really synthesized, so the resource the
script targets must exist in it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = """#!/bin/sh
echo "$(basename "$0") $* TF_VAR_image=${TF_VAR_image:-}" >> "$DEPLOY_LOG"
case "$(basename "$0") $*" in
  "gcloud run jobs execute"*) exit "${MIGRATION_STATUS:-0}" ;;
  "gcloud secrets describe"*) exit "${SECRET_STATUS:-0}" ;;
  "gcloud secrets create"*) cat > /dev/null ;;
  "terraform "*" destroy "*) echo "TF_VAR_project_id=$TF_VAR_project_id TF_VAR_region=$TF_VAR_region" \
    "TF_VAR_mail_from=$TF_VAR_mail_from" >> "$DEPLOY_LOG" ;;
  "terraform "*" output -json deployed_with") [ -n "${DEPLOYED_WITH:-}" ] || exit 1; echo "$DEPLOYED_WITH" ;;
esac
"""


@pytest.fixture
def deploy(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("gcloud", "docker", "terraform"):
        (bin_dir / tool).write_text(STAND_IN)
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "calls.log"

    def run(*arguments: str, **variables: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJAPP_", "TF_VAR_")) and k != "NODE_OPTIONS"},
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DEPLOY_LOG": str(log),
            "CDKTF_OUTDIR": str(tmp_path / "out"), "DJAPP_PROJECT": "example-project",
            "DJAPP_MAIL_FROM": "noreply@example.com", "DJAPP_TAG": "v1", "DJAPP_AUTO_APPROVE": "true",
            **variables,
        }
        done = subprocess.run(["scripts/deploy.sh", *arguments], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
        return done, log.read_text().splitlines() if log.exists() else []

    return run


IMAGE = "us-central1-docker.pkg.dev/example-project/djapp/app:v1"


def test_the_migration_runs_on_the_new_image_before_everything_else_gets_it(deploy, tmp_path):
    done, calls = deploy()

    assert done.returncode == 0, done.stdout + done.stderr
    steps = [c for c in calls if c.startswith(("docker push", "gcloud run jobs execute")) or " apply " in c]
    assert steps == [
        f"docker push {IMAGE} TF_VAR_image=",
        f"terraform -chdir={tmp_path}/out/stacks/app apply -input=false "
        f"-target=google_cloud_run_v2_job.migrate -auto-approve TF_VAR_image={IMAGE}",
        f"gcloud run jobs execute djapp-migrate --region=us-central1 --wait --project example-project TF_VAR_image={IMAGE}",
        f"terraform -chdir={tmp_path}/out/stacks/app apply -input=false -auto-approve TF_VAR_image={IMAGE}",
    ]
    stack = json.loads((tmp_path / "out" / "stacks" / "app" / "cdk.tf.json").read_text())
    assert stack["resource"]["google_cloud_run_v2_job"]["migrate"]["name"] == "djapp-migrate"


def test_a_failed_migration_stops_the_deploy_before_the_web_service_changes(deploy):
    done, calls = deploy(MIGRATION_STATUS="1")

    assert done.returncode != 0
    assert [c.split(" TF_VAR")[0] for c in calls if "apply" in c][-1].endswith("-target=google_cloud_run_v2_job.migrate -auto-approve")


def test_the_stack_is_deployed_on_the_engine_chosen_with_the_provider_it_pins(deploy, tmp_path):
    done, calls = deploy(DJAPP_ENGINE="cdktn")

    assert done.returncode == 0, done.stdout + done.stderr
    stack = json.loads((tmp_path / "out" / "stacks" / "app" / "cdk.tf.json").read_text())
    assert stack["terraform"]["required_providers"]["google"] == {"source": "hashicorp/google", "version": "8.7.0"}
    # Upgrading past a lock file that pins the other engine's provider line.
    assert f"terraform -chdir={tmp_path}/out/stacks/app init -input=false -upgrade TF_VAR_image={IMAGE}" in calls


def test_missing_settings_are_named(deploy):
    done, calls = deploy(DJAPP_MAIL_FROM="")

    assert done.returncode != 0
    assert "set DJAPP_MAIL_FROM" in done.stderr
    assert calls == []


def test_a_second_environment_migrates_and_checks_its_own_names(deploy, tmp_path):
    done, calls = deploy(DJAPP_ENVIRONMENT="staging")

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"gcloud secrets describe django-email-url-staging --project example-project TF_VAR_image=" in calls
    assert any(c.startswith("gcloud run jobs execute djapp-staging-migrate ") for c in calls)
    stack = json.loads((tmp_path / "out" / "stacks" / "app" / "cdk.tf.json").read_text())
    assert stack["resource"]["google_cloud_run_v2_job"]["migrate"]["name"] == "djapp-staging-migrate"


def test_a_missing_secret_is_named_with_the_command_to_create_it_in_the_project(deploy):
    done, calls = deploy(SECRET_STATUS="1")

    assert done.returncode != 0
    assert "Secret django-email-url does not exist in example-project" in done.stderr
    assert "gcloud secrets create django-email-url --data-file=- --project example-project" in done.stderr
    assert not any(" apply " in c for c in calls)


DEPLOYED = json.dumps({"project_id": "example-project", "region": "europe-west1",
                       "image": "europe-west1-docker.pkg.dev/example-project/djapp/app:v0", "mail_from": "a@example.com"})


def test_destroy_applies_protection_off_then_destroys_with_the_deployed_variables(deploy, tmp_path):
    done, calls = deploy("destroy", DJAPP_MAIL_FROM="", DEPLOYED_WITH=DEPLOYED)

    assert done.returncode == 0, done.stdout + done.stderr
    stack_dir = f"-chdir={tmp_path}/out/stacks/app"
    image = "TF_VAR_image=europe-west1-docker.pkg.dev/example-project/djapp/app:v0"
    assert [c for c in calls if " apply " in c or " destroy " in c or c.startswith("TF_VAR_project_id")] == [
        f"terraform {stack_dir} apply -input=false -auto-approve {image}",
        f"terraform {stack_dir} destroy -input=false -auto-approve {image}",
        "TF_VAR_project_id=example-project TF_VAR_region=europe-west1 TF_VAR_mail_from=a@example.com",
    ]
    # Nothing is built, pushed or enabled on the way out.
    assert not any(c.startswith(("docker", "gcloud")) for c in calls)
    stack = json.loads((tmp_path / "out" / "stacks" / "app" / "cdk.tf.json").read_text())
    assert stack["resource"]["google_cloud_run_v2_service"]["web"]["deletion_protection"] is False


def test_destroy_refuses_a_region_other_than_the_deployed_one(deploy):
    done, calls = deploy("destroy", DJAPP_REGION="us-central1", DEPLOYED_WITH=DEPLOYED)

    assert done.returncode != 0
    assert "deployed to project example-project, region europe-west1" in done.stderr
    assert not any(" apply " in c or " destroy " in c for c in calls)


def test_destroy_without_a_deployment_in_state_says_so_and_changes_nothing(deploy):
    done, calls = deploy("destroy")

    assert done.returncode != 0
    assert "has no deployed_with output" in done.stderr
    assert not any(" apply " in c or " destroy " in c for c in calls)


def test_an_unknown_action_is_named(deploy):
    done, calls = deploy("teardown")

    assert done.returncode == 2
    assert "'teardown' is not an action" in done.stderr and calls == []

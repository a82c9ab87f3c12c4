#!/usr/bin/env bash
# Deploy this checkout to a Google Cloud project (docs/deploy.md walks through it):
#
#   DJAPP_PROJECT=my-project DJAPP_MAIL_FROM=noreply@example.com scripts/deploy.sh
#
# Settings, from the environment:
#   DJAPP_PROJECT        the project id (required)
#   DJAPP_MAIL_FROM      the address the app's mail comes from (required)
#   DJAPP_REGION         default us-central1
#   DJAPP_TAG            the image tag; default the commit (marked -dirty-TIME if the
#                        checkout has uncommitted changes)
#   DJAPP_AUTO_APPROVE   true: apply without asking (CI)
#   DJAPP_ENGINE         cdktf (default) or cdktn: which CDK engine, and so which line of
#                        hashicorp/google (6.50 or 8.x), synthesizes the stack (docs/engines.md)
#   DJAPP_DATABASE, DJAPP_DATABASE_MAX_CONNECTIONS, DJAPP_STATE_BUCKET,
#   DJAPP_DELETION_PROTECTION: stack options (stacks/app_options.py)
#
# Needs gcloud (logged in, with application default credentials), docker and terraform.
# Order matters: the migrate job gets the new image and runs to completion before the web
# service and the worker job get it, so new code never serves on the old schema (on a
# first deploy, the web service is created only once the database is migrated).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

: "${DJAPP_PROJECT:?set DJAPP_PROJECT to the Google Cloud project id}"
: "${DJAPP_MAIL_FROM:?set DJAPP_MAIL_FROM to the address mail is sent from, e.g. noreply@example.com}"
REGION=${DJAPP_REGION:-us-central1}
if [ -z "${DJAPP_TAG:-}" ]; then
  DJAPP_TAG=$(git rev-parse --short HEAD)
  git diff --quiet HEAD || DJAPP_TAG="$DJAPP_TAG-dirty-$(date +%s)"
fi
REPOSITORY=djapp
IMAGE="$REGION-docker.pkg.dev/$DJAPP_PROJECT/$REPOSITORY/app:$DJAPP_TAG"
STACK_DIR="${CDKTF_OUTDIR:-cdktf.out}/stacks/app"
MIGRATE_JOB=djapp-migrate                       # stacks/app_stack.py MIGRATE_JOB_NAME
MIGRATE_RESOURCE=google_cloud_run_v2_job.migrate  # its Terraform address
project=(--project "$DJAPP_PROJECT")

step() { printf '\n==> %s\n' "$*"; }

secret_exists() { gcloud secrets describe "$1" "${project[@]}" >/dev/null 2>&1; }

require_secret() {
  secret_exists "$1" || {
    printf 'Secret %s does not exist in %s. Create it (docs/deploy.md):\n  %s\n' "$1" "$DJAPP_PROJECT" "$2" >&2
    exit 1
  }
}

step "APIs that must be on before Terraform can plan (the stack enables the rest)"
gcloud services enable serviceusage.googleapis.com cloudresourcemanager.googleapis.com \
  secretmanager.googleapis.com artifactregistry.googleapis.com "${project[@]}"

step "Secrets"
if ! secret_exists django-secret-key; then
  echo "Creating django-secret-key with a new random value"
  python3 -c 'import secrets; print(secrets.token_urlsafe(50), end="")' |
    gcloud secrets create django-secret-key --data-file=- --replication-policy=automatic "${project[@]}"
fi
require_secret django-email-url \
  "printf %s 'smtp+starttls://USER:PASSWORD@SMTP_HOST:587' | gcloud secrets create django-email-url --data-file=-"
if [ "${DJAPP_DATABASE:-existing}" = existing ]; then
  require_secret django-database-url \
    "printf %s 'postgres://USER:PASSWORD@HOST:5432/NAME' | gcloud secrets create django-database-url --data-file=-"
fi

if [ -n "${DJAPP_STATE_BUCKET:-}" ] && ! gcloud storage buckets describe "gs://$DJAPP_STATE_BUCKET" "${project[@]}" >/dev/null 2>&1; then
  step "State bucket gs://$DJAPP_STATE_BUCKET"
  gcloud storage buckets create "gs://$DJAPP_STATE_BUCKET" --location="$REGION" \
    --uniform-bucket-level-access --public-access-prevention "${project[@]}"
  gcloud storage buckets update "gs://$DJAPP_STATE_BUCKET" --versioning "${project[@]}"
fi

step "Image $IMAGE"
if ! gcloud artifacts repositories describe "$REPOSITORY" --location="$REGION" "${project[@]}" >/dev/null 2>&1; then
  gcloud artifacts repositories create "$REPOSITORY" --repository-format=docker --location="$REGION" "${project[@]}"
fi
gcloud auth configure-docker "$REGION-docker.pkg.dev" --quiet
docker build --platform linux/amd64 --tag "$IMAGE" .
docker push "$IMAGE"

step "Terraform configuration"
uv run --frozen python main.py
export TF_VAR_project_id="$DJAPP_PROJECT" TF_VAR_region="$REGION" TF_VAR_image="$IMAGE" \
  TF_VAR_mail_from="$DJAPP_MAIL_FROM"
# -upgrade: the stack pins one provider version, and after a switch of engine the lock
# file of the last init pins the other line's (6.50 against 8.x), which plain init refuses.
terraform -chdir="$STACK_DIR" init -input=false -upgrade
approve=()
[ "${DJAPP_AUTO_APPROVE:-}" = true ] && approve=(-auto-approve)

step "The migrate job on the new image, with what it needs (APIs, secrets, database)"
# -target applies the job and its dependencies only: the web service and the worker keep
# serving the previous image until the migration has run.
terraform -chdir="$STACK_DIR" apply -input=false -target="$MIGRATE_RESOURCE" "${approve[@]}"

step "Migrate"
gcloud run jobs execute "$MIGRATE_JOB" --region="$REGION" --wait "${project[@]}"

step "Everything else: the web service and the worker job on the new image"
terraform -chdir="$STACK_DIR" apply -input=false "${approve[@]}"
terraform -chdir="$STACK_DIR" output

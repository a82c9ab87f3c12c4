#!/usr/bin/env bash
# Deploy this checkout to a Google Cloud project (docs/deploy.md walks through it):
#
#   DJAPP_PROJECT=my-project DJAPP_MAIL_FROM=noreply@example.com scripts/deploy.sh
#
# or remove what it deployed, with the variables it was applied with (kept in its state):
#
#   DJAPP_PROJECT=my-project scripts/deploy.sh destroy
#
# Settings, from the environment:
#   DJAPP_PROJECT        the project id (required)
#   DJAPP_MAIL_FROM      the address the app's mail comes from (required to deploy)
#   DJAPP_REGION         default us-central1 (destroy: the deployed one; another is refused)
#   DJAPP_ENVIRONMENT    unset: the first deployment; e.g. staging: another one beside it in
#                        the same project, every name its own (stacks/names.py)
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

ACTION=${1:-deploy}
case "$ACTION" in
  deploy | destroy) ;;
  *) echo "scripts/deploy.sh: '$ACTION' is not an action; run it with none (deploy) or with destroy" >&2; exit 2 ;;
esac
: "${DJAPP_PROJECT:?set DJAPP_PROJECT to the Google Cloud project id}"
if [ "$ACTION" = deploy ]; then
  : "${DJAPP_MAIL_FROM:?set DJAPP_MAIL_FROM to the address mail is sent from, e.g. noreply@example.com}"
fi
REGION=${DJAPP_REGION:-us-central1}
if [ -z "${DJAPP_TAG:-}" ]; then
  DJAPP_TAG=$(git rev-parse --short HEAD)
  git diff --quiet HEAD || DJAPP_TAG="$DJAPP_TAG-dirty-$(date +%s)"
fi
REPOSITORY=djapp
IMAGE="$REGION-docker.pkg.dev/$DJAPP_PROJECT/$REPOSITORY/app:$DJAPP_TAG"
STACK_DIR="${CDKTF_OUTDIR:-cdktf.out}/stacks/app"
# The environment's names (MIGRATE_JOB, SECRET_KEY_SECRET, EMAIL_URL_SECRET,
# DATABASE_URL_SECRET), as the stack names them.
eval "$(uv run --frozen python -m stacks.names)"
MIGRATE_RESOURCE=google_cloud_run_v2_job.migrate  # the migrate job's Terraform address
project=(--project "$DJAPP_PROJECT")
approve=()
[ "${DJAPP_AUTO_APPROVE:-}" = true ] && approve=(-auto-approve)

step() { printf '\n==> %s\n' "$*"; }

if [ "$ACTION" = destroy ]; then
  step "Terraform configuration, deletion protection off"
  DJAPP_DELETION_PROTECTION=false uv run --frozen python main.py
  terraform -chdir="$STACK_DIR" init -input=false -upgrade
  # The variables the deployment was applied with, from its state: a destroy with others
  # (another region above all) would plan replacing what it should delete.
  deployed=$(terraform -chdir="$STACK_DIR" output -json deployed_with 2>/dev/null || true)
  if [ -z "$deployed" ] || ! read -r d_project d_region d_image d_mail < <(
    python3 -c 'import json, sys; v = json.load(sys.stdin); print(v["project_id"], v["region"], v["image"], v["mail_from"])' \
      <<<"$deployed" 2>/dev/null); then
    echo "scripts/deploy.sh destroy: the state in $STACK_DIR has no deployed_with output (nothing deployed here, or deployed" \
      "before this version, or another DJAPP_STATE_BUCKET / DJAPP_ENVIRONMENT): deploy this version first, or destroy" \
      "by hand with every TF_VAR_ set (docs/deploy.md, Destroy)" >&2
    exit 1
  fi
  if [ "$d_project" != "$DJAPP_PROJECT" ] || { [ -n "${DJAPP_REGION:-}" ] && [ "$d_region" != "$DJAPP_REGION" ]; }; then
    echo "scripts/deploy.sh destroy: this state was deployed to project $d_project, region $d_region;" \
      "DJAPP_PROJECT is $DJAPP_PROJECT and DJAPP_REGION ${DJAPP_REGION:-unset}: set them to the deployed ones" >&2
    exit 1
  fi
  export TF_VAR_project_id="$d_project" TF_VAR_region="$d_region" TF_VAR_image="$d_image" TF_VAR_mail_from="$d_mail"
  step "Deletion protection off (recorded in state), then destroy"
  terraform -chdir="$STACK_DIR" apply -input=false "${approve[@]}"
  terraform -chdir="$STACK_DIR" destroy -input=false "${approve[@]}"
  exit 0
fi

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
# On a brand-new project, the first calls after enabling an API can still be refused
# while the enablement propagates: then wait a minute and run this script again.
trap 'echo "scripts/deploy.sh: a step failed. On a new project the APIs just enabled can take a few minutes" \
  "to answer: wait, then run the same command again (every step is safe to repeat)." >&2' ERR

step "Secrets"
if ! secret_exists "$SECRET_KEY_SECRET"; then
  echo "Creating $SECRET_KEY_SECRET with a new random value"
  python3 -c 'import secrets; print(secrets.token_urlsafe(50), end="")' |
    gcloud secrets create "$SECRET_KEY_SECRET" --data-file=- --replication-policy=automatic "${project[@]}"
fi
require_secret "$EMAIL_URL_SECRET" \
  "printf %s 'smtp+starttls://USER:PASSWORD@SMTP_HOST:587' | gcloud secrets create $EMAIL_URL_SECRET --data-file=- --project $DJAPP_PROJECT"
if [ "${DJAPP_DATABASE:-existing}" = existing ]; then
  require_secret "$DATABASE_URL_SECRET" \
    "printf %s 'postgres://USER:PASSWORD@HOST:5432/NAME' | gcloud secrets create $DATABASE_URL_SECRET --data-file=- --project $DJAPP_PROJECT"
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

step "The migrate job on the new image, with what it needs (APIs, secrets, database)"
# -target applies the job and its dependencies only: the web service and the worker keep
# serving the previous image until the migration has run.
terraform -chdir="$STACK_DIR" apply -input=false -target="$MIGRATE_RESOURCE" "${approve[@]}"

trap - ERR
step "Migrate"
gcloud run jobs execute "$MIGRATE_JOB" --region="$REGION" --wait "${project[@]}"

step "Everything else: the web service and the worker job on the new image"
terraform -chdir="$STACK_DIR" apply -input=false "${approve[@]}"
terraform -chdir="$STACK_DIR" output

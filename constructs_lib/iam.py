"""Small IAM helpers shared by the constructs: member strings and grant ids."""

from __future__ import annotations

from cdktf_cdktf_provider_google.service_account import ServiceAccount
from constructs import Construct

from .naming import slug
from .validation import ConstructValidationError, is_unresolved

ROLE_ENQUEUER = "roles/cloudtasks.enqueuer"
ROLE_SERVICE_ACCOUNT_USER = "roles/iam.serviceAccountUser"
ROLE_SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
ROLE_RUN_INVOKER = "roles/run.invoker"  # calls a Cloud Run service; runs a job without overrides

MEMBER_PREFIXES = ("serviceAccount:", "user:", "group:", "domain:", "principal:", "principalSet:")


def service_account_member(account: ServiceAccount) -> str:
    return f"serviceAccount:{account.email}"


def check_member(construct: str, option: str, member: str) -> str:
    """An IAM member string such as "serviceAccount:x@p.iam.gserviceaccount.com".

    Project-wide principals ("allUsers", "allAuthenticatedUsers") are refused: a grant
    here is meant for one identity.
    """
    if isinstance(member, str) and (member.startswith(MEMBER_PREFIXES) or is_unresolved(member)):
        return member
    raise ConstructValidationError(
        construct, option, member,
        "an IAM member of one identity, starting with " + ", ".join(repr(p) for p in MEMBER_PREFIXES)
        + " (not allUsers or allAuthenticatedUsers)",
    )


def grant_id(owner: Construct, member: str, id: str | None, taken: set[str]) -> str:
    """A construct id for the resources of one grant: `id`, else a slug of the member.

    A member that is an unresolved reference has no readable name; then `id` is needed.
    """
    if id is None:
        if is_unresolved(member):
            raise ConstructValidationError(
                owner.node.path, "id", None,
                "an id for this grant: the member is a Terraform reference, so no id can be derived from it",
            )
        id = slug(member.split("@")[0])
    if id in taken:
        raise ConstructValidationError(owner.node.path, "id", id, "an id not used by an earlier grant of this construct")
    taken.add(id)
    return id

"""Small IAM helpers shared by the constructs: roles, members and grant ids."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from constructs import Construct

from . import limits
from .engine import engine_of
from .kernel_cache import attribute
from .naming import service_account_id, slug
from .registry import ProjectKey, claim_account_id
from .validation import ConstructValidationError, is_unresolved

if TYPE_CHECKING:  # the stack's engine's classes at run time (engine.py)
    from cdktf import TerraformStack
    from cdktf_cdktf_provider_google.service_account import ServiceAccount

ROLE_ENQUEUER = "roles/cloudtasks.enqueuer"
ROLE_SERVICE_ACCOUNT_USER = "roles/iam.serviceAccountUser"
ROLE_SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
ROLE_RUN_INVOKER = "roles/run.invoker"  # calls a Cloud Run service; runs a job without overrides

ONE_IDENTITY = '"serviceAccount:EMAIL", "user:EMAIL" or "principal://.../subject/SUBJECT"'
MANY_IDENTITIES = '"group:EMAIL", "domain:DOMAIN" or "principalSet://..."'


def service_account_member(account: ServiceAccount | str) -> str:
    """ "serviceAccount:EMAIL" for an account made in this stack or an existing one's email.

    The same account always gives the same string, so repeated grants to it are
    recognised as one (registry.grant_once).
    """
    email = account if isinstance(account, str) else attribute(account, "email")
    return f"serviceAccount:{email}"


def service_account_path(email: str) -> str:
    """The IAM resource name of a service account known by email ("-": any project)."""
    return f"projects/-/serviceAccounts/{email}"


def check_service_account_email(construct: str, option: str, email: str | None) -> str | None:
    if email is not None and not is_unresolved(email) and not (
        isinstance(email, str) and limits.SERVICE_ACCOUNT_EMAIL.fullmatch(email)
    ):
        raise ConstructValidationError(construct, option, email, limits.SERVICE_ACCOUNT_EMAIL_RULE)
    return email


@dataclass(frozen=True)
class Identity:
    """A construct's service account, planned before anything is made: an existing one
    (its email) or a new one (its derived id, already claimed in the stack)."""

    existing_email: str | None
    account_id: str | None

    @classmethod
    def plan(
        cls, what: str, option: str, existing: str | None, *, name: str, suffix: str, stack: TerraformStack,
        project_key: ProjectKey, same_project: bool = False,
    ) -> Identity:
        """`same_project`: an existing account must be of the resources' project, where
        Google requires it (a queue's or a scheduler job's token identity)."""
        check_service_account_email(what, option, existing)
        if existing is not None:
            if same_project:
                _check_same_project(what, option, existing, project_key)
            return cls(existing, None)
        account_id = service_account_id(name, suffix)
        claim_account_id(stack, what, project_key, account_id, name, option)
        return cls(None, account_id)

    def make(
        self, owner: Construct, construct_id: str, *, display_name: str, project: str | None,
        resource_options: Mapping[str, Any],
    ) -> tuple[ServiceAccount | None, str]:
        """(account, email): the new account, or None and the existing account's email."""
        if self.existing_email is not None:
            return None, self.existing_email
        account = engine_of(owner).google("service_account").ServiceAccount(
            owner, construct_id, account_id=self.account_id, project=project, display_name=display_name[:100],
            **resource_options,
        )
        return account, attribute(account, "email")


def _check_same_project(what: str, option: str, email: str, project_key: ProjectKey) -> None:
    """A user-managed account (NAME@PROJECT.iam.gserviceaccount.com) of another project
    than the one written out is refused; Google-managed ones name no project."""
    if is_unresolved(email) or project_key.known is None:
        return
    domain = email.partition("@")[2]
    account_project = domain.removesuffix(".iam.gserviceaccount.com")
    if account_project != domain and account_project != project_key.known:
        raise ConstructValidationError(
            what, option, email,
            f"a service account of {project_key} (…@{project_key.known}.iam.gserviceaccount.com): Google mints this "
            "identity's tokens only for a service account in the same project as the queue or scheduler job",
        )


def check_member(construct: str, option: str, member: str, *, allow_many: bool = False) -> str:
    """An IAM member that stands for one identity (or, with `allow_many`, a group of them).

    A member that is a Terraform reference passes; one whose type is written out and
    whose identity is a reference ("serviceAccount:${...}") is checked for its type.
    """
    if not isinstance(member, str):
        if is_unresolved(member):
            return member
        raise ConstructValidationError(construct, option, member, f"an IAM member string: {ONE_IDENTITY}")
    if is_unresolved(member):
        written = member.split("${", 1)[0]
        if not written:
            return member
        one = written.startswith(("serviceAccount:", "user:", "principal://"))
        many = written.startswith(("group:", "domain:", "principalSet://"))
    else:
        one = bool(limits.ONE_IDENTITY_MEMBER.fullmatch(member))
        many = bool(limits.MANY_IDENTITIES_MEMBER.fullmatch(member))
    if one or (many and allow_many):
        return member
    if many:
        raise ConstructValidationError(
            construct, option, member,
            f"one identity ({ONE_IDENTITY}): whoever may enqueue can have any task run and start the job, so a "
            f"member that stands for many identities needs allow_many_identities=True",
        )
    raise ConstructValidationError(
        construct, option, member,
        f"an IAM member of one identity: {ONE_IDENTITY}; with allow_many_identities=True also {MANY_IDENTITIES} "
        "(never allUsers or allAuthenticatedUsers)",
    )


def grant_id(owner: str, member: str, id: str | None, taken: dict[str, str]) -> str:
    """A construct id for the resources of one grant: `id`, else a slug of the member.

    A member that is an unresolved reference has no readable name; then `id` is needed.
    The same id may be used again only for the same member (the repeated grant is one).
    """
    if id is None:
        if is_unresolved(member):
            raise ConstructValidationError(
                owner, "id", None, "an id for this grant: the member is a Terraform reference, so no id can be derived from it",
            )
        id = slug(member.split("@")[0])
    if taken.setdefault(id, member) != member:
        raise ConstructValidationError(owner, "id", id, "an id not used by an earlier grant of this construct to another member")
    return id

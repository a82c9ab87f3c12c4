"""What the constructs of one stack have already claimed: Google names and IAM bindings.

Two constructs that would create Google resources of the same name (a queue, a job, a
scheduler job, a service account id) would only find out at apply time, half-way
through, with a 409; here the second fails at synth and names both constructs. Two
grants of the same role to the same member on the same resource would make two
Terraform resources managing one binding (destroying either removes it for both); the
second is not made.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary

from .kernel_cache import path_of
from .tokens import is_unresolved
from .validation import ConstructValidationError

if TYPE_CHECKING:  # or cdktn's: the same API
    from cdktf import TerraformProvider, TerraformStack

T = TypeVar("T")

_claims: WeakKeyDictionary[TerraformStack, dict[Hashable, str]] = WeakKeyDictionary()
_grants: WeakKeyDictionary[TerraformStack, dict[Hashable, Any]] = WeakKeyDictionary()


def _claim(stack: TerraformStack, key: Hashable, holder: str) -> str | None:
    """Record that `holder` (a construct, as messages name it) takes `key`; return the earlier holder, if another."""
    earlier = _claims.setdefault(stack, {}).setdefault(key, holder)
    return earlier if earlier != holder else None


def project_key(project: str | None, provider: TerraformProvider | None) -> Hashable:
    """Which project a resource lands in, as far as synth can tell: the project given,
    else the provider's (each provider object, or the stack's default one)."""
    if project is not None:
        return ("project", project)
    return ("provider", path_of(provider) if provider is not None else None)


def claim_name(stack: TerraformStack, holder: str, kind: str, where: Hashable, name: str, option: str = "name") -> None:
    """Refuse a second construct creating a `kind` called `name` in the same place."""
    if is_unresolved(name):
        return
    earlier = _claim(stack, ("name", kind, where, name), holder)
    if earlier is not None:
        raise ConstructValidationError(holder, option, name, f"a {kind} name not already used by {earlier}")


def claim_only_one(stack: TerraformStack, holder: str, option: str, value: Any, what: str, key: Hashable) -> None:
    """Refuse a second construct making `what`, of which there is one for `key`."""
    earlier = _claim(stack, ("only one", what, key), holder)
    if earlier is not None:
        raise ConstructValidationError(holder, option, value, f"given to one construct only: {earlier} already makes {what}")


def claim_account_id(
    stack: TerraformStack, holder: str, project: Hashable, account_id: str, name: str, existing_option: str,
) -> None:
    """Refuse a service account id derived from `name` that another construct already derived."""
    earlier = _claim(stack, ("service account", project, account_id), holder)
    if earlier is not None:
        raise ConstructValidationError(
            holder, "name", name,
            f"a name whose service account id ({account_id!r}) is not already derived for {earlier} in the same "
            "project (ids are unique per project; they are the name lowercased, other characters as '-', cut to "
            f"30 characters): give one of them another name, or pass {existing_option}",
        )


def grant_once(stack: TerraformStack, target: Hashable, role: str, member: str, make: Callable[[], T]) -> T:
    """The grant of `role` to `member` on `target` in this stack: made by `make` the first
    time, the same resource every later time.

    Members are compared as written: a Terraform reference is the same member only as
    the same token string (`iam.service_account_member` gives one per account).
    """
    grants = _grants.setdefault(stack, {})
    key = (target, role, member)
    if key not in grants:
        grants[key] = make()
    return grants[key]

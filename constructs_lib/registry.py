"""What the constructs of one app have already claimed: Google names and IAM bindings.

Two constructs that would create Google resources of the same name in one project (a
queue, a job, a scheduler job, a service account id) would only find out at apply
time, half-way through, with a 409; here the second fails at synth and names both
constructs. Names are claimed per project, across every stack of the App: two
providers for one project, or two stacks of one app deployed side by side, collide as
surely as two constructs of one stack.

Which project a resource lands in is known at synth only when it is written out (the
construct's `project`, else its provider's). A project that is a Terraform reference
(`var.project_id`) is the same project as the same reference; in one stack, two
different references are taken as two projects (a stack with two providers for two
projects). Across stacks nothing says that two variables differ, so a project that is
not written out may be any project of another stack: names must differ.

Two grants of the same role to the same member on the same resource would make two
Terraform resources managing one binding (destroying either removes it for both); the
second is not made. A resource known by a name (a secret id) is a different resource in
each project, so its grants are keyed by the project too.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary

from .kernel_cache import attribute, path_of
from .tokens import is_unresolved
from .validation import ConstructValidationError

if TYPE_CHECKING:  # or cdktn's: the same API
    from cdktf import TerraformProvider, TerraformStack

T = TypeVar("T")


@dataclass(frozen=True)
class ProjectKey:
    """The project resources land in, as far as synth can tell.

    `project`: the project id when written out, else the reference's token string, or
    None for a provider without one (the project of its credentials or environment).
    `stack`: the path of the stack that says so (a reference means something only there).
    """

    project: str | None
    written_out: bool
    stack: str

    def may_be(self, other: ProjectKey) -> bool:
        """Whether `other` may be the same project."""
        if self.written_out and other.written_out:
            return self.project == other.project
        if self.stack == other.stack:
            return self.written_out == other.written_out and self.project == other.project
        return True

    @property
    def known(self) -> str | None:
        """The project id, when written out."""
        return self.project if self.written_out else None

    def __str__(self) -> str:
        if self.written_out:
            return f"project {self.project!r}"
        return f"the project of stack {self.stack!r} (not known until apply)"


# A project that may be any: for claims whose key is unique in the App by itself.
_ANY_PROJECT = ProjectKey(None, written_out=False, stack="")

# Per App (by its kernel reference: the Python object the kernel hands back for a
# construct's root is not the same each time): name -> [(project, holder)].
_claims: dict[str, dict[Hashable, list[tuple[ProjectKey, str]]]] = {}
_app_of: WeakKeyDictionary[TerraformStack, str] = WeakKeyDictionary()
_default_project: WeakKeyDictionary[TerraformStack, tuple[str | None]] = WeakKeyDictionary()
_grants: WeakKeyDictionary[TerraformStack, dict[Hashable, Any]] = WeakKeyDictionary()


def project_key(stack: TerraformStack, project: str | None, provider: TerraformProvider | None) -> ProjectKey:
    """Which project a resource of `stack` lands in: `project` if given, else its
    provider's (`provider`, or the stack's default Google provider)."""
    if project is None:
        project = attribute(provider, "project") if provider is not None else _stack_default_project(stack)
    return ProjectKey(project, project is not None and not is_unresolved(project), path_of(stack))


def _stack_default_project(stack: TerraformStack) -> str | None:
    """The project of the stack's Google provider without an alias (its default one)."""
    if stack not in _default_project:
        defaults = [child for child in stack.node.children
                    if type(child).__name__ == "GoogleProvider" and attribute(child, "alias") is None]
        _default_project[stack] = (attribute(defaults[0], "project") if defaults else None,)
    return _default_project[stack][0]


def _app_claims(stack: TerraformStack) -> dict[Hashable, list[tuple[ProjectKey, str]]]:
    if stack not in _app_of:
        _app_of[stack] = stack.node.root.__jsii_ref__.ref
    return _claims.setdefault(_app_of[stack], {})


def _claim(stack: TerraformStack, key: Hashable, project: ProjectKey, holder: str) -> tuple[str, ProjectKey] | None:
    """Record that `holder` (a construct, as messages name it) takes `key` in `project`;
    return an earlier holder of `key` in a project that may be the same, if another."""
    holders = _app_claims(stack).setdefault(key, [])
    for earlier_project, earlier in holders:
        if earlier != holder and earlier_project.may_be(project):
            return earlier, earlier_project
    holders.append((project, holder))
    return None


def _where(project: ProjectKey, earlier_project: ProjectKey) -> str:
    return f"in {project}" if project == earlier_project else f"in {earlier_project}, which may be {project}"


def claim_name(
    stack: TerraformStack, holder: str, kind: str, project: ProjectKey, name: str, *, region: str | None = None,
    option: str = "name",
) -> None:
    """Refuse a second construct creating a `kind` called `name` in the same project (and region)."""
    if is_unresolved(name):
        return
    clash = _claim(stack, ("name", kind, region, name), project, holder)
    if clash is not None:
        earlier, earlier_project = clash
        raise ConstructValidationError(
            holder, option, name,
            f"a {kind} name not already used by {earlier} {_where(project, earlier_project)}: give one of them "
            "another name (for a second deployment of a stack, another environment or name prefix)",
        )


def claim_only_one(stack: TerraformStack, holder: str, option: str, value: Any, what: str, key: Hashable) -> None:
    """Refuse a second construct making `what`, of which there is one for `key` in the App
    (`key` names a construct, so whichever project it is in does not matter)."""
    clash = _claim(stack, ("only one", what, key), _ANY_PROJECT, holder)
    if clash is not None:
        earlier, _ = clash
        raise ConstructValidationError(holder, option, value, f"given to one construct only: {earlier} already makes {what}")


def claim_account_id(
    stack: TerraformStack, holder: str, project: ProjectKey, account_id: str, name: str, existing_option: str,
) -> None:
    """Refuse a service account id derived from `name` that another construct already derived."""
    clash = _claim(stack, ("service account", account_id), project, holder)
    if clash is not None:
        earlier, earlier_project = clash
        raise ConstructValidationError(
            holder, "name", name,
            f"a name whose service account id ({account_id!r}) is not already derived for {earlier} "
            f"{_where(project, earlier_project)} (ids are unique per project; they are the name lowercased, other "
            f"characters as '-', cut to 30 characters): give one of them another name, or pass {existing_option}",
        )


def grant_once(stack: TerraformStack, target: Hashable, role: str, member: str, make: Callable[[], T]) -> T:
    """The grant of `role` to `member` on `target` in this stack: made by `make` the first
    time, the same resource every later time.

    `target` names one resource: by its construct path, or by its name and project
    (ProjectKey) for one known by name. Members are compared as written: a Terraform
    reference is the same member only as the same token string
    (`iam.service_account_member` gives one per account).
    """
    grants = _grants.setdefault(stack, {})
    key = (target, role, member)
    if key not in grants:
        grants[key] = make()
    return grants[key]

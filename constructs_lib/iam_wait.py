"""Waiting for IAM grants to take effect before what needs them is created.

IAM is eventually consistent: a grant typically takes effect within 2 minutes, and
"potentially 7 minutes or longer" (https://cloud.google.com/iam/docs/access-change-propagation).
Terraform's `depends_on` orders creation, not propagation. Cloud Run checks that a job's
or revision's identity may read its secrets when it creates them: one created in that
window fails, stays tainted, and `deletion_protection` then refuses its replacement. A
schedule that starts right after its caller's grant fails its runs until it takes effect.

So what needs grants depends on an `IamWait`: a hashicorp/time `time_sleep` that starts
once the grants exist and ends `duration` later. Its triggers are the grants' ids, so
when a grant it waits for is made or replaced (a new secret, a new identity), the sleep
is replaced in the same apply and what depends on it waits again; otherwise it never
sleeps again. The wait is made with the bindings of the stack's engine
(cdktf-cdktf-provider-time or cdktn-provider-time) and the stack's one `time` provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from constructs import Construct

from .engine import engine_of
from .kernel_cache import attribute, path_of, stack_of
from .validation import check_duration

if TYPE_CHECKING:
    from cdktf import ITerraformDependable, TerraformStack

# Google's "typically 2 minutes": a first apply waits this long once per layer of grants
# (a wait is never slept again unless its grants change). Longer waits are an option.
DEFAULT_IAM_PROPAGATION = "120s"
MAX_IAM_PROPAGATION_SECONDS = 3600

_time_providers: WeakKeyDictionary[TerraformStack, Any] = WeakKeyDictionary()


def check_iam_propagation(construct: str, option: str, duration: str) -> str:
    """A wait from "0s" (none: the grants exist already) to an hour, in seconds."""
    return check_duration(construct, option, duration, minimum=0, maximum=MAX_IAM_PROPAGATION_SECONDS,
                          whole_seconds="time_sleep takes whole seconds here")


class IamWait:
    """A `time_sleep` after `grants` (and `depends_on`), for what needs them in effect."""

    def __init__(
        self, scope: Construct, id: str, *, duration: str, grants: Sequence[ITerraformDependable],
        depends_on: Sequence[ITerraformDependable] | None = None,
    ) -> None:
        self._grants: dict[str, str] = {}
        _time_provider(stack_of(scope))
        self.sleep = engine_of(scope).provider("time", "sleep").Sleep(
            scope, id, create_duration=duration, depends_on=list(depends_on) if depends_on else None,
        )
        self.add(*grants)

    def add(self, *grants: ITerraformDependable) -> None:
        """Wait for these grants too, and wait again whenever one of them is replaced."""
        added = [grant for grant in grants if path_of(grant) not in self._grants]
        if not added:
            return
        for grant in added:
            self._grants[path_of(grant)] = attribute(grant, "id")
        # After the constructor, depends_on takes addresses ("type.logical_id"), not resources.
        waited = list(self.sleep.depends_on or [])
        addresses = (f"{attribute(grant, 'terraform_resource_type')}.{attribute(grant, 'friendly_unique_id')}"
                     for grant in added)
        self.sleep.depends_on = [*waited, *(a for a in addresses if a not in waited)]
        self.sleep.triggers = dict(self._grants)


def _time_provider(stack: TerraformStack) -> Any:
    """The stack's default `time` provider: the one it has, or one made here once."""
    if stack not in _time_providers:
        provider_class = engine_of(stack).provider("time", "provider").TimeProvider
        existing = [child for child in stack.node.children
                    if isinstance(child, provider_class) and attribute(child, "alias") is None]
        _time_providers[stack] = existing[0] if existing else provider_class(stack, "time")
    return _time_providers[stack]

"""`node.add_dependency()` on this package's constructs: refused at synth, pointing at
`depends_on`.

The engine (cdktf or cdktn) turns a construct's node dependencies into `depends_on`
only on Terraform resources; on a construct that groups resources (QueueWorker,
ScheduledTrigger) it would write nothing, and the resources would not wait. So rather than be ignored, it
fails the synth with what to write instead.
"""

from __future__ import annotations

import jsii
from constructs import Construct, IValidation


@jsii.implements(IValidation)
class RefuseNodeDependencies:
    """A validation that fails when `construct` was given node dependencies."""

    def __init__(self, construct: Construct, what: str) -> None:
        self._construct = construct
        self._what = what  # "QueueWorker app/worker", as its other errors name it

    def validate(self) -> list[str]:
        if not self._construct.node.dependencies:
            return []
        kind = self._what.split(" ", 1)[0]
        return [
            f"{self._what}: node.add_dependency() is not applied to the resources it makes, which would "
            f"not wait. Pass depends_on=[...] to {kind} instead: every resource it makes then waits for them."
        ]

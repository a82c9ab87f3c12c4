"""Catches two constructs of one stack that would create Google resources of the same name.

Terraform would only find out at apply time, half-way through, with an "already
exists" error; here it fails at synth and names both constructs.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from cdktf import TerraformStack
from constructs import Construct

from .validation import ConstructValidationError, is_unresolved

_claimed: WeakKeyDictionary[TerraformStack, dict[tuple[str, str], str]] = WeakKeyDictionary()


def claim_name(construct: Construct, kind: str, name: str, what: str) -> None:
    if is_unresolved(name):
        return
    names = _claimed.setdefault(TerraformStack.of(construct), {})
    holder = names.setdefault((kind, name), construct.node.path)
    if holder != construct.node.path:
        raise ConstructValidationError(what, "name", name, f"a {kind} name not already used by {holder}")

"""Answers from the jsii kernel that the constructs need more than once, kept in Python.

Each read of a construct's path, its stack, or a resource attribute (`account.email`)
is a round trip to the kernel's node process (~0.5 ms). The constructs need these for
every error message, derived name, registry entry and grant, and a stack of fifty
workers would spend most of its synth time asking again. Nothing here changes an
answer: a path is its scope's path plus its own id (constructs' `Node.path`: the ids
of the non-root ancestors joined by "/", "/" in an id replaced by "--"), and a
resource attribute is the same token for as long as the resource exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from constructs import Construct

from .engine import engine_of, inherit

if TYPE_CHECKING:
    from cdktf import TerraformStack  # or cdktn's: the same API

_paths: WeakKeyDictionary[Construct, str] = WeakKeyDictionary()
_stacks: WeakKeyDictionary[Construct, TerraformStack] = WeakKeyDictionary()
_attributes: WeakKeyDictionary[Construct, dict[str, Any]] = WeakKeyDictionary()


def path_of(construct: Construct) -> str:
    """`construct.node.path`, asked of the kernel at most once per construct."""
    path = _paths.get(construct)
    if path is None:
        path = _paths[construct] = construct.node.path
    return path


def adopt(child: Construct, scope: Construct, id: str) -> str:
    """Remember the path and stack of a construct just made in `scope`; return its path."""
    parent = path_of(scope)
    own = id.replace("/", "--")
    path = _paths[child] = f"{parent}/{own}" if parent else own
    _stacks[child] = stack_of(scope)
    inherit(child, scope)
    return path


def stack_of(construct: Construct) -> TerraformStack:
    """`TerraformStack.of(construct)`, asked of the kernel at most once per construct."""
    terraform_stack = engine_of(construct).core.TerraformStack
    if isinstance(construct, terraform_stack):
        return construct
    stack = _stacks.get(construct)
    if stack is None:
        stack = _stacks[construct] = terraform_stack.of(construct)
    return stack


def attribute(resource: Construct, name: str) -> Any:
    """`getattr(resource, name)` (e.g. "email"), asked of the kernel at most once."""
    known = _attributes.setdefault(resource, {})
    if name not in known:
        known[name] = getattr(resource, name)
    return known[name]

"""Synthesizing stacks for tests, and reading the Terraform JSON they produce."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import constructs_lib  # noqa: F401  (before any provider import: see fast_provider)
from constructs_lib.engine import CDKTF, Engine

Stack = dict[str, Any]


def new_stack(id: str = "test", engine: Engine = CDKTF) -> Any:
    """A TerraformStack of `engine` (cdktf by default) with a Google provider."""
    stack = engine.core.TerraformStack(engine.core.Testing.app(), id)
    engine.google("provider").GoogleProvider(stack, "google", project="example-project")
    return stack


def synth(build: Callable[[Any], object], id: str = "test", engine: Engine = CDKTF) -> Stack:
    stack = new_stack(id, engine)
    build(stack)
    return json.loads(engine.core.Testing.synth(stack))


@cache
def app_stack_on(engine: Engine, cloud_sql: bool = False) -> Stack:
    """The app stack on `engine`, with an existing database or Cloud SQL; synthesized once."""
    from stacks.database import CloudSqlDatabase, ExistingDatabase

    return synth_app_stack(engine=engine, database=CloudSqlDatabase() if cloud_sql else ExistingDatabase())


def synth_app_stack(declared: Any = None, **options: Any) -> Stack:
    """The app stack, with AppOptions(**options) (on options["engine"], cdktf by default),
    and the periodic tasks `declared` (default: the Django project's)."""
    from stacks.app_options import AppOptions
    from stacks.app_stack import app_stack

    settings = AppOptions(**options)
    testing = settings.engine.core.Testing
    return json.loads(testing.synth(app_stack(testing.app(), "app", settings, declared)))


def resources(stack: Stack, kind: str) -> dict[str, dict[str, Any]]:
    """Resources of one Terraform type, by logical id."""
    return stack.get("resource", {}).get(kind, {})


def only(stack: Stack, kind: str) -> dict[str, Any]:
    """The one resource of a type; fails if there are none or several."""
    found = resources(stack, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))


def all_resources(stack: Stack) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for kind, by_id in stack.get("resource", {}).items():
        for logical_id, body in by_id.items():
            yield kind, logical_id, body


def ref(kind: str, stack: Stack, attribute: str, id_contains: str = "") -> str:
    """The Terraform reference `${kind.<id>.attribute}` to the one resource of a type
    (whose logical id contains `id_contains`)."""
    (logical_id,) = [i for i in resources(stack, kind) if id_contains in i]
    return f"${{{kind}.{logical_id}.{attribute}}}"


def keys_anywhere(value: Any) -> set[str]:
    """Every key of every object nested in a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_anywhere(v)}
    return set()


_ENCODED_BODY = re.compile(r"\$\{base64encode\(jsonencode\((.*)\)\)\}", re.S)


def decode_body(body: str) -> Any:
    """The JSON a scheduler body expression `${base64encode(jsonencode(...))}` sends,
    or the JSON in a literal base64 body."""
    match = _ENCODED_BODY.fullmatch(body)
    if match is None:
        return json.loads(base64.b64decode(body))
    # The argument is an HCL object literal of strings and lists: `{"k" = [...]}`.
    return json.loads(re.sub(r'"\s*=\s*', '": ', match[1]))


_REFERENCE = re.compile(r"\b((?:google|time|random)_[a-z0-9_]+)\.([A-Za-z0-9_-]+)")


def dependencies(stack: Stack, address: str) -> set[str]:
    """The resources `address` ("type.logical_id") is created after: those its
    `depends_on` names and those its arguments refer to."""
    kind, _, logical_id = address.partition(".")
    body = stack["resource"][kind][logical_id]
    named = {f"{k}.{i}" for k, i in _REFERENCE.findall(json.dumps(body)) if i in resources(stack, k)}
    return (named | set(body.get("depends_on", []))) - {address}


def ancestors(stack: Stack, address: str) -> set[str]:
    """Every resource `address` is transitively created after (Terraform's order)."""
    seen: set[str] = set()
    todo = [address]
    while todo:
        for found in dependencies(stack, todo.pop()) - seen:
            seen.add(found)
            todo.append(found)
    return seen

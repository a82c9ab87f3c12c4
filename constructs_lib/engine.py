"""Which CDK engine a construct is built on: CDK for Terraform (`cdktf`) or CDK Terrain
(`cdktn`, the maintained fork), and the provider bindings that go with it.

The two engines have the same Python API under different package names, and each has
its own prebuilt Google bindings: cdktf's stop at `cdktf-cdktf-provider-google` 16.12
(hashicorp/google 6.50); cdktn's `cdktn-provider-google` 21.x wrap 8.x. A resource of
one engine cannot live in a stack of the other (the jsii kernel fails at synth), so the
constructs make every resource with the classes of the engine their scope belongs to:
the engine of the App at the root of the construct tree. Nothing here imports an engine
the stack does not use; both may be installed side by side.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from weakref import WeakKeyDictionary

from constructs import Construct


@dataclass(frozen=True)
class Engine:
    """One engine: its Python package, its provider packages' prefix, and the major
    version of hashicorp/google its Google bindings wrap (the constructs' dependency
    pins keep it so)."""

    name: str  # "cdktf" or "cdktn", the Python package
    provider_prefix: str  # + "google": the Google bindings' Python package
    google_major: int

    @property
    def core(self) -> ModuleType:
        """The engine itself: App, TerraformStack, Fn, Token, ..."""
        return importlib.import_module(self.name)

    def provider(self, provider: str, module: str) -> ModuleType:
        """One resource's module of a provider's bindings, e.g. ("random", "password")."""
        return importlib.import_module(f"{self.provider_prefix}{provider}.{module}")

    def google(self, module: str) -> ModuleType:
        """One resource's module of the Google bindings, e.g. "cloud_run_v2_job"."""
        return self.provider("google", module)

    @property
    def has_deletion_policy(self) -> bool:
        """Whether resources such as queues take `deletion_policy` ("PREVENT" refuses to
        delete them): hashicorp/google 8.x has it, 6.50 does not."""
        return self.google_major >= 8

    def __str__(self) -> str:
        return self.name


CDKTF = Engine("cdktf", "cdktf_cdktf_provider_", google_major=6)
CDKTN = Engine("cdktn", "cdktn_provider_", google_major=8)
ENGINES = {engine.name: engine for engine in (CDKTF, CDKTN)}

_engines: WeakKeyDictionary[Construct, Engine] = WeakKeyDictionary()


class NotInAnApp(TypeError):
    """A construct whose tree has no cdktf or cdktn App at its root."""


def engine_of(construct: Construct) -> Engine:
    """The engine of the App `construct` belongs to (asked of the kernel once per construct)."""
    engine = _engine_of_class(type(construct)) or _engines.get(construct)
    if engine is None:
        root = construct.node.root
        engine = _engine_of_class(type(root))
        if engine is None:
            raise NotInAnApp(
                f"{construct.node.path or construct!r} is not in a cdktf or cdktn App: its root is a "
                f"{type(root).__module__}.{type(root).__qualname__}. Make the stack in `cdktf.App()` or `cdktn.App()`"
            )
        _engines[construct] = engine
    return engine


def inherit(child: Construct, scope: Construct) -> None:
    """Remember that `child`, just made in `scope`, is on its scope's engine."""
    _engines[child] = engine_of(scope)


def engine_named(name: str) -> Engine:
    """"cdktf" or "cdktn"; anything else is refused, naming both."""
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown CDK engine {name!r}: one of {', '.join(ENGINES)}") from None


def _engine_of_class(cls: type) -> Engine | None:
    # An App, a TerraformStack or a resource is, or derives from, a class of its engine's
    # package (jsii gives kernel objects the Python class of their jsii type).
    for base in cls.__mro__:
        engine = ENGINES.get(base.__module__.partition(".")[0])
        if engine is not None:
            return engine
    return None

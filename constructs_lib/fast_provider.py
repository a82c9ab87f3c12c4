"""Load only the parts of the Google provider that a stack uses, on either engine.

The Google bindings (`cdktf_cdktf_provider_google`, ~1,470 resources; cdktn's
`cdktn_provider_google`, ~1,850) hold each resource as a Python module backed by a
JavaScript module run by the jsii kernel (a node process). A stack uses a handful, but
the ordinary import loads all of them:

1. Python (cdktf's bindings): the package `__init__` imports every resource module.
   `install()` registers a package object with the same `__path__` instead, so
   `import cdktf_cdktf_provider_google.cloud_run_v2_job` runs just that module (which
   loads the provider's jsii assembly through `_jsii`, as before), and
   `cdktf_cdktf_provider_google.provider` (an attribute) imports that one on first use.
   cdktn's bindings are generated lazy already (a module `__getattr__`): left as they are.
2. Node (both): loading the assembly `require`s the provider's `lib/index.js`, which
   requires every resource's JavaScript (~160 MB; ~420 MB for cdktn's). `install()`
   loads `fast_provider.cjs` into the kernel first, as a tiny jsii package of its own
   (`jsii.load`); that hook turns the one index file into lazy getters.

Both work whatever was imported before, the engine included, as long as the provider
package itself was not: then everything is loaded already, nothing can be saved, and
`install()` says so in one line. `import constructs_lib` calls it. Other code sees the
same package: every submodule, attribute and type, loaded when first used.

Nothing else is worth configuring: jsii's package cache (on by default, in the user's
cache directory; `JSII_RUNTIME_PACKAGE_CACHE_ROOT` moves it) already saves extracting
the assembly tarball (31 MB; cdktn's 40 MB) on every run. Numbers: docs/performance.md,
`python benchmarks/synth.py`.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import io
import json
import pkgutil
import sys
import tarfile
import tempfile
import types
import warnings
from importlib.machinery import ModuleSpec
from pathlib import Path

import jsii

# Each engine's Google bindings, and whether its package __init__ imports every resource.
PROVIDER_PACKAGES = {"cdktf_cdktf_provider_google": True, "cdktn_provider_google": False}
LAZY_INDEX_HOOK = Path(__file__).with_name("fast_provider.cjs")
HOOK_PACKAGE = "constructs-lib-lazy-provider-index"  # the npm name the kernel loads the hook as
HOOK_VERSION = "1.1.0"


def install() -> None:
    """Make each installed Google provider package load only the resources a stack uses.

    Idempotent. Warns (one line) for a provider package already imported the ordinary
    way. Raises `ModuleNotFoundError` when neither engine's bindings are installed.
    """
    installed = [p for p in PROVIDER_PACKAGES if p in sys.modules or importlib.util.find_spec(p) is not None]
    if not installed:
        raise ModuleNotFoundError(
            "no Google provider bindings are installed: install cloud-background-work-constructs with an "
            "engine, `[cdktf]` (cdktf-cdktf-provider-google) or `[cdktn]` (cdktn-provider-google)",
            name=next(iter(PROVIDER_PACKAGES)),
        )
    if any(f"{package}._jsii" not in sys.modules for package in installed):
        _load_lazy_index_hook()
    for package in installed:
        _install(package)


def _install(package: str) -> None:
    imported = sys.modules.get(package)
    if isinstance(imported, _ProviderPackage):
        return
    if imported is not None:
        warnings.warn(
            f"{package} was imported before constructs_lib, so all of its resources are loaded "
            "(seconds of every synth): import constructs_lib first",
            RuntimeWarning, stacklevel=4,
        )
        return
    if PROVIDER_PACKAGES[package]:  # found, not imported: find_spec does not import it
        sys.modules[package] = _ProviderPackage(importlib.util.find_spec(package))


class _ProviderPackage(types.ModuleType):
    """A provider package without its eager `__init__`: submodules load on first use."""

    def __init__(self, spec: ModuleSpec) -> None:
        super().__init__(spec.name, "A Google provider package, loading each resource when first used.")
        self.__spec__ = spec
        self.__loader__ = spec.loader
        self.__file__ = spec.origin
        self.__package__ = spec.name
        self.__path__ = list(spec.submodule_search_locations or [])

    def __getattr__(self, name: str) -> object:
        if name == "__all__":  # as the real __init__ lists them: every resource module
            return sorted(m.name for m in pkgutil.iter_modules(self.__path__) if not m.name.startswith("_"))
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f"{self.__name__}.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"{self.__name__}.{name}":
                raise
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.__all__})


_hook_loaded = False


def _load_lazy_index_hook() -> None:
    """Load fast_provider.cjs into the jsii kernel before the provider's assembly.

    The kernel `require`s the main file of each package it loads, in its own node
    process, so a package whose main file is the hook installs it there: whether or
    not the kernel is already running (the engine imported first), without NODE_OPTIONS.
    """
    global _hook_loaded
    if _hook_loaded:
        return
    _hook_loaded = True
    with tempfile.TemporaryDirectory() as directory:
        tarball = Path(directory, "hook.tgz")
        tarball.write_bytes(_hook_package())
        jsii.load(HOOK_PACKAGE, HOOK_VERSION, str(tarball))


def _hook_package() -> bytes:
    """An npm package tarball whose main file is the hook, with the smallest jsii
    manifest the kernel accepts (no types). Byte for byte the same each time, so jsii's
    package cache extracts it once."""
    manifest = {
        "schema": "jsii/0.10.0", "name": HOOK_PACKAGE, "version": HOOK_VERSION, "jsiiVersion": "5.9.0",
        "license": "Apache-2.0", "homepage": "", "description": "Loads the Google provider's index lazily",
        "repository": {"type": "git", "url": ""}, "author": {"name": "constructs_lib", "roles": ["author"]},
        "fingerprint": "constructs-lib-lazy-provider-index", "types": {},
    }
    files = {
        "package/package.json": json.dumps({"name": HOOK_PACKAGE, "version": HOOK_VERSION, "main": "index.js"}),
        "package/.jsii": json.dumps(manifest),
        "package/index.js": LAZY_INDEX_HOOK.read_text(encoding="utf-8"),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)

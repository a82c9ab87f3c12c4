"""Load only the parts of the Google provider that a stack uses.

`cdktf_cdktf_provider_google` holds ~1,470 resources, each a Python module backed by a
JavaScript module run by the jsii kernel (a node process). A stack uses a handful, but
the ordinary import loads all of them, twice:

1. Python: the package `__init__` imports every resource module. `install()` registers
   a package object with the same `__path__` instead, so
   `import cdktf_cdktf_provider_google.cloud_run_v2_job` runs just that module (which
   loads the provider's jsii assembly through `_jsii`, as before), and
   `cdktf_cdktf_provider_google.provider` (an attribute) imports that one on first use.
2. Node: loading the assembly `require`s the provider's `lib/index.js`, which requires
   every resource's JavaScript (~160 MB). `install()` loads `fast_provider.cjs` into
   the kernel first, as a tiny jsii package of its own (`jsii.load`); that hook turns
   the one index file into lazy getters.

Both work whatever was imported before, cdktf included, as long as the provider
package itself was not: then everything is loaded already, nothing can be saved, and
`install()` says so in one line. `import constructs_lib` calls it. Other code sees the
same package: every submodule, attribute and type, loaded when first used.

Nothing else is worth configuring: jsii's package cache (on by default, in the user's
cache directory; `JSII_RUNTIME_PACKAGE_CACHE_ROOT` moves it) already saves extracting
the 31 MB assembly tarball on every run. Numbers: docs/performance.md,
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

PROVIDER_PACKAGE = "cdktf_cdktf_provider_google"
LAZY_INDEX_HOOK = Path(__file__).with_name("fast_provider.cjs")
HOOK_PACKAGE = "constructs-lib-lazy-provider-index"  # the npm name the kernel loads the hook as
HOOK_VERSION = "1.0.0"


def install() -> None:
    """Make `cdktf_cdktf_provider_google` load only the resources a stack uses.

    Idempotent. Warns (one line) when the provider package was already imported the
    ordinary way. Raises `ModuleNotFoundError` when it is not installed.
    """
    imported = sys.modules.get(PROVIDER_PACKAGE)
    if isinstance(imported, _ProviderPackage):
        return
    if imported is not None:
        warnings.warn(
            f"{PROVIDER_PACKAGE} was imported before constructs_lib, so all of its ~1,500 modules are loaded "
            "(~15 s of every synth): import constructs_lib first",
            RuntimeWarning, stacklevel=3,
        )
        return
    spec = importlib.util.find_spec(PROVIDER_PACKAGE)  # finds it without importing it
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(
            f"{PROVIDER_PACKAGE} is not installed: it is a locked dependency of this "
            "project (pyproject.toml); install them with `uv sync --frozen`",
            name=PROVIDER_PACKAGE,
        )
    _load_lazy_index_hook()
    sys.modules[PROVIDER_PACKAGE] = _ProviderPackage(spec)


class _ProviderPackage(types.ModuleType):
    """The provider package without its eager `__init__`: submodules load on first use."""

    def __init__(self, spec: ModuleSpec) -> None:
        super().__init__(PROVIDER_PACKAGE, "The Google provider package, loading each resource when first used.")
        self.__spec__ = spec
        self.__loader__ = spec.loader
        self.__file__ = spec.origin
        self.__package__ = PROVIDER_PACKAGE
        self.__path__ = list(spec.submodule_search_locations or [])

    def __getattr__(self, name: str) -> object:
        if name == "__all__":  # as the real __init__ lists them: every resource module
            return sorted(m.name for m in pkgutil.iter_modules(self.__path__) if not m.name.startswith("_"))
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f"{PROVIDER_PACKAGE}.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"{PROVIDER_PACKAGE}.{name}":
                raise
        raise AttributeError(f"module {PROVIDER_PACKAGE!r} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.__all__})


def _load_lazy_index_hook() -> None:
    """Load fast_provider.cjs into the jsii kernel before the provider's assembly.

    The kernel `require`s the main file of each package it loads, in its own node
    process, so a package whose main file is the hook installs it there: whether or
    not the kernel is already running (cdktf imported first), without NODE_OPTIONS.
    """
    if f"{PROVIDER_PACKAGE}._jsii" in sys.modules:
        return  # the provider's JavaScript is loaded already
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
        "license": "Apache-2.0", "homepage": "", "description": "Loads @cdktf/provider-google's index lazily",
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

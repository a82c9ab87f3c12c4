"""Load only the parts of the Google provider that a stack uses.

`cdktf_cdktf_provider_google` holds ~1,470 resources, each a Python module backed by a
JavaScript module run by the jsii kernel (a node process). A stack uses a handful, but
the ordinary import loads all of them, twice:

1. Python: the package `__init__` imports every resource module. `install()` registers
   a bare package object with the same `__path__` instead, so
   `import cdktf_cdktf_provider_google.cloud_run_v2_job` runs just that module (which
   loads the provider's jsii assembly through `_jsii`, as before).
2. Node: loading the assembly `require`s the provider's `lib/index.js`, which requires
   every resource's JavaScript (~160 MB). `install()` adds `--require fast_provider.cjs`
   to `NODE_OPTIONS`; that hook turns the one index file into lazy getters.

Order matters: call `install()` before anything imports `cdktf` or `constructs`.
Importing either starts the jsii kernel, and node reads `NODE_OPTIONS` only when it
starts; called later, `install()` still does step 1 and warns that step 2 was missed.
`import constructs_lib` calls it, so make that the first import of an entry point.

Nothing else is worth configuring: jsii's package cache (on by default, in the user's
cache directory; `JSII_RUNTIME_PACKAGE_CACHE_ROOT` moves it) already saves extracting
the 31 MB assembly tarball on every run, and typeguard's argument checks cost ~40 ms of
the app stack's synth. Numbers: docs/performance.md, `python benchmarks/synth.py`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
import warnings
from importlib.machinery import ModuleSpec
from pathlib import Path

PROVIDER_PACKAGE = "cdktf_cdktf_provider_google"
LAZY_INDEX_HOOK = Path(__file__).with_name("fast_provider.cjs")


def install() -> None:
    """Make later `cdktf_cdktf_provider_google.<resource>` imports load just that resource.

    Idempotent. Does nothing when the provider package is already imported (by an
    earlier call, or the ordinary way: then everything is loaded and nothing can be
    saved). Raises `ModuleNotFoundError` when the provider package is not installed.
    """
    if PROVIDER_PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PROVIDER_PACKAGE)  # finds it without importing it
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(
            f"{PROVIDER_PACKAGE} is not installed: it is a locked dependency of this "
            "project (pyproject.toml); install them with `uv sync --frozen`",
            name=PROVIDER_PACKAGE,
        )
    _preload_lazy_index_hook()
    sys.modules[PROVIDER_PACKAGE] = _bare_package(spec)


def _bare_package(spec: ModuleSpec) -> types.ModuleType:
    package = types.ModuleType(PROVIDER_PACKAGE, "The provider package without its eager __init__.")
    package.__spec__ = spec
    package.__loader__ = spec.loader
    package.__file__ = spec.origin
    package.__package__ = PROVIDER_PACKAGE
    package.__path__ = list(spec.submodule_search_locations or [])
    return package


def _preload_lazy_index_hook() -> None:
    if _jsii_kernel_started():
        warnings.warn(
            "constructs_lib.fast_provider.install() ran after cdktf or constructs was "
            "imported, so node will load all of the provider's JavaScript (~2 s). "
            "Import constructs_lib before cdktf to avoid that.",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    option = f"--require {_node_options_quote(str(LAZY_INDEX_HOOK))}"
    current = os.environ.get("NODE_OPTIONS", "")
    if option not in current:  # already there when a parent process installed it
        os.environ["NODE_OPTIONS"] = f"{current} {option}".strip()


def _jsii_kernel_started() -> bool:
    # Every jsii package loads its assembly into the kernel from `<package>._jsii`,
    # and the first load starts the kernel.
    return any(name.endswith("._jsii") for name in sys.modules)


def _node_options_quote(value: str) -> str:
    # NODE_OPTIONS splits on spaces; in double quotes, a backslash escapes the next character.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

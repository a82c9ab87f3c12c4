"""Import provider resource modules without importing the whole provider package.

`import cdktf_cdktf_provider_google.<anything>` first runs the package's
`__init__`, which imports all ~1,500 resource modules (seconds of work) although a
stack uses a handful. Registering a bare package object with the same `__path__`
lets Python find the submodules we ask for and skip that `__init__`; the submodules
themselves load the provider's jsii assembly through `_jsii`, as before.
"""

from __future__ import annotations

import importlib.util
import sys
import types

PROVIDER_PACKAGE = "cdktf_cdktf_provider_google"


def install() -> None:
    """Make later provider submodule imports cheap. Safe to call more than once."""
    if PROVIDER_PACKAGE in sys.modules:
        return  # already imported (fully, or by an earlier install)
    spec = importlib.util.find_spec(PROVIDER_PACKAGE)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{PROVIDER_PACKAGE} is not installed")
    package = types.ModuleType(PROVIDER_PACKAGE, "Provider package without its eager __init__.")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    sys.modules[PROVIDER_PACKAGE] = package

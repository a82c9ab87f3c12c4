"""constructs_lib.fast_provider: only the provider modules a stack uses are loaded, on
either engine.

install() changes process-wide state (sys.modules, the jsii kernel), so each Python case
runs in a fresh interpreter that loads fast_provider.py on its own, without
constructs_lib's __init__. The node hook is tested against small fake provider packages
of both engines' shapes, and in the real kernel through node's own module log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from constructs_lib import fast_provider

PACKAGE = "cdktf_cdktf_provider_google"  # the bindings whose package __init__ imports every resource
HOOK = fast_provider.LAZY_INDEX_HOOK

# Puts `fast_provider` in the namespace of the code that run_python runs.
PRELUDE = f"""
import importlib.util, json, os, sys
_spec = importlib.util.spec_from_file_location("fast_provider", {fast_provider.__file__!r})
fast_provider = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fast_provider)
"""


def run_python(code: str, **env: str) -> dict:
    """Run `code` in a fresh interpreter; return the JSON object it printed last."""
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1]) | {"stderr": done.stderr}


def loaded_resource_modules(package: str = PACKAGE) -> str:
    """An expression: the provider's resource modules in sys.modules (not _jsii, not _private)."""
    prefix = package + "."
    return f"sorted({{m.split('.')[1] for m in sys.modules if m.startswith({prefix!r}) and m[{len(prefix)}] != '_'}})"


def test_submodules_import_without_the_other_resource_modules():
    result = run_python(f"""
        fast_provider.install()
        from {PACKAGE}.cloud_tasks_queue import CloudTasksQueue
        package = sys.modules[{PACKAGE!r}]
        resources = [p for p in os.listdir(package.__path__[0]) if not p.startswith("_")]
        print(json.dumps({{"loaded": {loaded_resource_modules()}, "available": len(resources),
                          "class": CloudTasksQueue.__module__}}))
    """)
    assert result["loaded"] == ["cloud_tasks_queue"]
    assert result["available"] > 1000  # what the package __init__ would have imported
    assert result["class"] == f"{PACKAGE}.cloud_tasks_queue"


def test_the_package_loads_each_submodule_when_first_read_as_an_attribute():
    result = run_python(f"""
        fast_provider.install()
        import {PACKAGE} as package
        provider_class = package.provider.GoogleProvider.__name__
        print(json.dumps({{"loaded": {loaded_resource_modules()}, "class": provider_class,
                          "listed": len(package.__all__), "in_dir": "cloud_run_v2_job" in dir(package),
                          "missing": hasattr(package, "no_such_resource")}}))
    """)
    assert result["class"] == "GoogleProvider"
    assert result["loaded"] == ["provider"]
    assert result["listed"] > 1000 and result["in_dir"]
    assert result["missing"] is False


def test_install_leaves_node_options_alone():
    result = run_python(
        """
        fast_provider.install()
        print(json.dumps({"node_options": os.environ.get("NODE_OPTIONS")}))
        """,
        NODE_OPTIONS="--max-old-space-size=4096",
    )
    assert result["node_options"] == "--max-old-space-size=4096"


def test_install_is_idempotent():
    result = run_python(f"""
        fast_provider.install()
        first = sys.modules[{PACKAGE!r}]
        fast_provider.install()
        print(json.dumps({{"same_package": sys.modules[{PACKAGE!r}] is first}}))
    """)
    assert result["same_package"]


def test_install_after_the_provider_package_was_imported_keeps_it_and_says_what_to_change():
    result = run_python(f"""
        import types
        imported = sys.modules[{PACKAGE!r}] = types.ModuleType({PACKAGE!r})
        fast_provider.install()
        print(json.dumps({{"kept": sys.modules[{PACKAGE!r}] is imported}}))
    """)
    assert result["kept"]
    (warning,) = [line for line in result["stderr"].splitlines() if "Warning" in line]
    assert "RuntimeWarning" in warning and "import constructs_lib first" in warning


def test_cdktns_bindings_keep_their_own_lazy_package_and_load_only_what_is_used():
    package = "cdktn_provider_google"
    result = run_python(f"""
        fast_provider.install()
        import {package}
        from {package}.cloud_tasks_queue import CloudTasksQueue
        provider = {package}.provider.__name__  # an attribute: imported when first read
        print(json.dumps({{"loaded": {loaded_resource_modules(package)}, "own": type(sys.modules[{package!r}]).__name__}}))
    """)
    assert result["loaded"] == ["cloud_tasks_queue", "provider"]
    assert result["own"] == "module"  # generated lazy (a module __getattr__): left as it is


def node_modules_loaded(code: str, scope: str) -> set[str]:
    """The @cdktf/provider-google or @cdktn/provider-google (`scope`) modules the jsii
    kernel's node process loaded while `code` ran (node's own module log, NODE_DEBUG=module)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env={**os.environ, "NODE_DEBUG": "module"},
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(re.findall(rf'load "[^"]*/{scope}/provider-google/lib/([\w-]+)', done.stderr))


@pytest.mark.parametrize(("engine", "bindings"), [("cdktf", "cdktf_cdktf_provider_google"), ("cdktn", "cdktn_provider_google")])
def test_a_stack_that_imports_its_engine_first_still_loads_only_what_it_uses(engine, bindings):
    loaded = node_modules_loaded(f"""
        import {engine} as engine  # starts the jsii kernel before constructs_lib is imported
        import constructs_lib
        from {bindings}.cloud_tasks_queue import CloudTasksQueue
        from {bindings}.provider import GoogleProvider

        stack = engine.TerraformStack(engine.Testing.app(), "stack")
        GoogleProvider(stack, "google", project="example-project")
        CloudTasksQueue(stack, "queue", name="jobs", location="europe-west1")
        engine.Testing.synth(stack)
    """, f"@{engine}")
    assert {"index", "cloud-tasks-queue", "provider"} <= loaded
    assert len(loaded) < 20  # of ~1,470 (cdktf) or ~1,850 (cdktn): the getters load the namespaces used


# The node side: fast_provider.cjs against fake provider packages, in each engine's shape.

CDKTF_INDEX = """\
"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.beta = exports.alpha = void 0;
// generated by cdktf get
exports.alpha = require("./alpha");
exports.beta = require("./beta");
"""
# cdktn's, as TypeScript's esModuleInterop emits `export * as alpha from "./alpha/index"`.
CDKTN_INDEX = """\
"use strict";
var __importStar = (this && this.__importStar) || function (mod) {
    if (mod && mod.__esModule) return mod;
    var result = {};
    for (var k of Object.getOwnPropertyNames(mod)) if (k !== "default") result[k] = mod[k];
    result["default"] = mod;
    return result;
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.beta = exports.alpha = void 0;
// generated by cdktn get
exports.alpha = __importStar(require("./alpha/index"));
exports.beta = __importStar(require("./beta/index"));
"""
SHAPES = {"@cdktf": CDKTF_INDEX, "@cdktn": CDKTN_INDEX}


def fake_provider(root: Path, scope: str, index: str) -> Path:
    lib = root / f"node_modules/{scope}/provider-google/lib"
    for name, es_module in (("alpha", True), ("beta", False)):
        (lib / name).mkdir(parents=True)
        (lib / name / "index.js").write_text(
            f'(globalThis.loaded ??= []).push("{name}"); exports.{name.title()} = class {{}};\n'
            + ('Object.defineProperty(exports, "__esModule", { value: true });\n' if es_module else "")
        )
    (lib / "index.js").write_text(index)
    (lib.parent / "package.json").write_text(f'{{"name": "{scope}/provider-google", "main": "lib/index.js"}}')
    return root


def run_node(cwd: Path, script: str) -> dict:
    done = subprocess.run(
        ["node", "--require", str(HOOK), "-e", script], cwd=cwd, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("scope", SHAPES)
def test_hook_loads_a_provider_namespace_the_first_time_it_is_read(tmp_path, scope):
    result = run_node(fake_provider(tmp_path, scope, SHAPES[scope]), f"""
        const provider = require("{scope}/provider-google");
        const before = [...(globalThis.loaded ?? [])];
        const Alpha = provider.alpha.Alpha;
        const beta = provider.beta;
        console.log(JSON.stringify({{
          before, after: globalThis.loaded, keys: Object.keys(provider), esModule: provider.__esModule,
          same: Alpha === require("{scope}/provider-google/lib/alpha").Alpha && provider.alpha === provider.alpha,
          betaKeys: Object.keys(beta).sort(), betaSame: beta.Beta === require("{scope}/provider-google/lib/beta").Beta,
        }}));
    """)
    assert result["before"] == []
    assert result["after"] == ["alpha", "beta"]
    assert result["keys"] == ["alpha", "beta"] and result["esModule"] is True
    assert result["same"] and result["betaSame"]
    # What the index itself would export for a module that is not an ES module.
    assert result["betaKeys"] == (["Beta"] if scope == "@cdktf" else ["Beta", "default"])


@pytest.mark.parametrize("scope", SHAPES)
def test_hook_loads_an_index_of_another_shape_the_ordinary_way(tmp_path, scope):
    index = SHAPES[scope] + 'exports.version = require("./alpha").version ?? "1";\n'
    result = run_node(fake_provider(tmp_path, scope, index), f"""
        const provider = require("{scope}/provider-google");
        console.log(JSON.stringify({{loaded: globalThis.loaded, version: provider.version}}));
    """)
    assert result == {"loaded": ["alpha", "beta"], "version": "1"}

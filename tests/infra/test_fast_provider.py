"""constructs_lib.fast_provider: only the provider modules a stack uses are loaded.

install() changes process-wide state (sys.modules, NODE_OPTIONS, the jsii kernel), so
each Python case runs in a fresh interpreter that loads fast_provider.py on its own,
without constructs_lib's __init__ (which imports cdktf and some provider modules).
The node hook is tested against a small fake provider package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from constructs_lib import fast_provider

PACKAGE = fast_provider.PROVIDER_PACKAGE
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
    clean = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}  # the test process's own
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        env={**clean, **env}, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1]) | {"stderr": done.stderr}


def loaded_resource_modules() -> str:
    """An expression: the provider's resource modules in sys.modules (not _jsii, not _private)."""
    return f"sorted({{m.split('.')[1] for m in sys.modules if m.startswith({PACKAGE + '.'!r})}} - {{'_jsii'}})"


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


def test_install_puts_the_lazy_index_hook_in_node_options_keeping_existing_options():
    result = run_python(
        """
        fast_provider.install()
        print(json.dumps({"node_options": os.environ["NODE_OPTIONS"]}))
        """,
        NODE_OPTIONS="--max-old-space-size=4096",
    )
    assert result["node_options"] == f'--max-old-space-size=4096 --require "{HOOK}"'


def test_install_is_idempotent():
    result = run_python(f"""
        fast_provider.install()
        first, options = sys.modules[{PACKAGE!r}], os.environ["NODE_OPTIONS"]
        fast_provider.install()
        print(json.dumps({{"same_package": sys.modules[{PACKAGE!r}] is first,
                          "same_options": os.environ["NODE_OPTIONS"] == options}}))
    """)
    assert result["same_package"] and result["same_options"]


def test_install_in_a_child_process_does_not_repeat_the_node_option():
    result = run_python(
        'fast_provider.install(); print(json.dumps({"node_options": os.environ["NODE_OPTIONS"]}))',
        NODE_OPTIONS=f'--require "{HOOK}"',
    )
    assert result["node_options"] == f'--require "{HOOK}"'


def test_install_does_nothing_when_the_package_is_already_imported():
    result = run_python(f"""
        import types
        imported = sys.modules[{PACKAGE!r}] = types.ModuleType({PACKAGE!r})
        fast_provider.install()
        print(json.dumps({{"kept": sys.modules[{PACKAGE!r}] is imported,
                          "node_options": os.environ.get("NODE_OPTIONS")}}))
    """)
    assert result["kept"] and result["node_options"] is None


def test_install_after_cdktf_started_node_warns_and_still_skips_the_python_init():
    result = run_python(f"""
        import constructs  # loads its assembly: the jsii kernel (node) is running
        fast_provider.install()
        print(json.dumps({{"node_options": os.environ.get("NODE_OPTIONS"),
                          "bare": not hasattr(sys.modules[{PACKAGE!r}], "__all__")}}))
    """)
    assert result["node_options"] is None  # too late for node to read it
    assert result["bare"]
    assert "RuntimeWarning" in result["stderr"] and "Import constructs_lib before cdktf" in result["stderr"]


def test_missing_provider_package_is_a_clear_error():
    result = run_python("""
        sys.path = [p for p in sys.path if "-packages" not in p]
        try:
            fast_provider.install()
        except ModuleNotFoundError as error:
            print(json.dumps({"error": str(error), "name": error.name}))
    """)
    assert result["name"] == PACKAGE
    assert "is not installed" in result["error"] and "uv sync" in result["error"]


def test_node_preloads_the_hook_from_a_path_with_spaces_and_quotes(tmp_path):
    odd_dir = tmp_path / 'dir with "quotes" and spaces'
    odd_dir.mkdir()
    hook = Path(shutil.copy(HOOK, odd_dir / HOOK.name))
    result = run_python(f"""
        import pathlib, subprocess
        fast_provider.LAZY_INDEX_HOOK = pathlib.Path({str(hook)!r})
        fast_provider.install()
        preloaded = subprocess.run(["node", "-p", "JSON.stringify(Object.keys(require.cache))"],
                                   capture_output=True, text=True, check=True).stdout
        print(json.dumps({{"preloaded": json.loads(preloaded)}}))
    """)
    assert str(hook.resolve()) in result["preloaded"]


# The node side: fast_provider.cjs against a fake @cdktf/provider-google.

GENERATED_INDEX = """\
"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.beta = exports.alpha = void 0;
// generated by cdktf get
exports.alpha = require("./alpha");
exports.beta = require("./beta");
"""


def fake_provider(root: Path, index: str) -> Path:
    lib = root / "node_modules/@cdktf/provider-google/lib"
    for name in ("alpha", "beta"):
        (lib / name).mkdir(parents=True)
        (lib / name / "index.js").write_text(
            f'(globalThis.loaded ??= []).push("{name}"); exports.{name.title()} = class {{}};\n'
        )
    (lib / "index.js").write_text(index)
    (lib.parent / "package.json").write_text('{"name": "@cdktf/provider-google", "main": "lib/index.js"}')
    return root


def run_node(cwd: Path, script: str) -> dict:
    done = subprocess.run(
        ["node", "--require", str(HOOK), "-e", script], cwd=cwd, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_hook_loads_a_provider_namespace_the_first_time_it_is_read(tmp_path):
    result = run_node(fake_provider(tmp_path, GENERATED_INDEX), """
        const provider = require("@cdktf/provider-google");
        const before = [...(globalThis.loaded ?? [])];
        const Alpha = provider.alpha.Alpha;
        console.log(JSON.stringify({
          before, after: globalThis.loaded, keys: Object.keys(provider), esModule: provider.__esModule,
          same: Alpha === require("@cdktf/provider-google/lib/alpha").Alpha && provider.alpha === provider.alpha,
        }));
    """)
    assert result["before"] == []
    assert result["after"] == ["alpha"]
    assert result["keys"] == ["alpha", "beta"] and result["esModule"] is True
    assert result["same"]


def test_hook_loads_an_index_of_another_shape_the_ordinary_way(tmp_path):
    index = GENERATED_INDEX + 'exports.version = require("./alpha").version ?? "1";\n'
    result = run_node(fake_provider(tmp_path, index), """
        const provider = require("@cdktf/provider-google");
        console.log(JSON.stringify({loaded: globalThis.loaded, version: provider.version}));
    """)
    assert result == {"loaded": ["alpha", "beta"], "version": "1"}

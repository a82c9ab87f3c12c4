"""Wall time and peak memory of `python main.py` on each engine, cdktf and cdktn, side by
side: the fast path beside the ordinary import.

    uv run python benchmarks/synth.py [--runs N]

Each run is a fresh interpreter in the repository root, synthesizing into a temporary
directory (cdktf.out/ is left alone), on the engine DJAPP_ENGINE names. After one
warm-up run of each variant, the two engines' fast paths run in alternation (so that the
machine's load falls on both alike: the comparison of the engines is the point), then
each ordinary import as a block (alternating with those made each fast run follow one
that had just used ~1 GB, and the fast median ~10% slower).

- fast path: `main.py` as it is (constructs_lib.fast_provider in effect);
- ordinary import: the engine's Google bindings imported first, as a stack that imports
  them the ordinary way does (`install()` then has nothing to do).

Peak RSS is python's own peak plus the jsii kernel's (node's) peak; both processes live
for the whole run, so the sum is a close upper bound of the run's peak. The script also
checks that both variants of an engine wrote the same Terraform JSON. Target: the app
stack on cdktn no slower than on cdktf (median fast path, same run).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs main.py in a fresh interpreter and writes its peak RSS and CPU time (python's and
# the jsii kernel's) to the file in argv[2].
PROBE = """
import atexit, json, resource, runpy, sys

bindings, report = sys.argv[1:3]  # bindings: the package to import first, or ""

def write_peaks():
    # atexit runs handlers last-registered first: this one runs after jsii has
    # stopped its node process and reaped it, so RUSAGE_CHILDREN covers node.
    own, node = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(report, "w") as f:
        json.dump({"python": own.ru_maxrss, "node": node.ru_maxrss,
                   "cpu": own.ru_utime + own.ru_stime + node.ru_utime + node.ru_stime}, f)

atexit.register(write_peaks)
if bindings:
    __import__(bindings)
sys.argv = ["main.py"]
runpy.run_path("main.py", run_name="__main__")
"""

ENGINES = {"cdktf": "cdktf_cdktf_provider_google", "cdktn": "cdktn_provider_google"}  # each engine's Google bindings
PATHS = ("fast path", "ordinary import")
RU_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB


@dataclass
class Run:
    wall: float
    cpu: float  # python's and node's, user and system: what the machine's other load disturbs least
    python_rss: int
    node_rss: int


Variant = tuple[str, str]  # (engine, path)


def run_once(variant: Variant, outdir: Path, *, show_stderr: bool = False) -> Run:
    engine, path = variant
    env = {**os.environ, "CDKTF_OUTDIR": str(outdir), "DJAPP_ENGINE": engine}
    bindings = ENGINES[engine] if path == "ordinary import" else ""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PROBE, bindings, report.name],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"{variant}: main.py failed:\n{done.stderr}")
        if show_stderr and done.stderr:  # warnings, e.g. from fast_provider
            print(f"{variant}, stderr:\n{done.stderr}", file=sys.stderr)
        peaks = json.loads(Path(report.name).read_text())
    return Run(wall, peaks["cpu"], peaks["python"] * RU_MAXRSS_BYTES, peaks["node"] * RU_MAXRSS_BYTES)


def same_output(a: Path, b: Path) -> bool:
    stack_files = sorted(p.relative_to(a) for p in a.rglob("*.json"))
    _, mismatch, errors = filecmp.cmpfiles(a, b, [str(p) for p in stack_files], shallow=False)
    return bool(stack_files) and not mismatch and not errors


def median_wall(runs: list[Run]) -> float:
    return statistics.median(r.wall for r in runs)


def median_cpu(runs: list[Run]) -> float:
    return statistics.median(r.cpu for r in runs)


def summary(variant: Variant, runs: list[Run]) -> str:
    walls = [r.wall for r in runs]
    mib = 1024 * 1024
    python = statistics.median(r.python_rss for r in runs) / mib
    node = statistics.median(r.node_rss for r in runs) / mib
    return (
        f"{variant[0]:<6} {variant[1]:<16} {median_wall(runs):6.2f} s  [{min(walls):.2f}-{max(walls):.2f}]"
        f"  CPU {median_cpu(runs):6.2f} s  {python + node:6.0f} MiB  (python {python:.0f} + node {node:.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7, help="measured runs per variant (default 7)")
    runs_per_variant = parser.parse_args().runs

    variants = [(engine, path) for path in PATHS for engine in ENGINES]
    with tempfile.TemporaryDirectory() as tmp:
        outdirs = {variant: Path(tmp, f"{variant[0]}-{i}") for i, variant in enumerate(variants)}
        runs: dict[Variant, list[Run]] = {variant: [] for variant in variants}
        for variant in variants:
            run_once(variant, outdirs[variant], show_stderr=True)  # warm-up: page cache, jsii package cache
        fast = [variant for variant in variants if variant[1] == "fast path"]
        for _ in range(runs_per_variant):
            for variant in fast:
                runs[variant].append(run_once(variant, outdirs[variant]))
        for variant in variants:
            if variant not in fast:
                runs[variant] = [run_once(variant, outdirs[variant]) for _ in range(runs_per_variant)]
        identical = {engine: same_output(*(outdirs[(engine, path)] for path in PATHS)) for engine in ENGINES}

    print(
        f"python main.py: median wall [min-max], median CPU and median peak RSS of {runs_per_variant} runs each"
        f" ({os.cpu_count()} CPUs, Python {platform.python_version()})"
    )
    for variant in variants:
        print(summary(variant, runs[variant]))
    for engine in ENGINES:
        speedup = median_wall(runs[(engine, "ordinary import")]) / median_wall(runs[(engine, "fast path")])
        print(f"{engine}: fast path {speedup:.1f}x faster; same Terraform JSON: {'yes' if identical[engine] else 'NO'}")
    cdktn, cdktf = runs[("cdktn", "fast path")], runs[("cdktf", "fast path")]
    ratio = median_wall(cdktn) / median_wall(cdktf)
    print(f"cdktn / cdktf, fast path: {ratio:.2f} of the wall time (target: at most 1.00: "
          f"{'met' if ratio <= 1 else 'NOT met'}), {median_cpu(cdktn) / median_cpu(cdktf):.2f} of the CPU time")
    if not all(identical.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()

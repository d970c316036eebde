"""Latency measurement benchmarks: run-to-run spread, wall time, agreement with torch.utils.benchmark.

Run from the repository root: `python benchmarks/latency.py`. Prints a Markdown table.

1. Five fresh processes of `convprof compare specs/lenet5.yaml --format json`: the conv variant's
   median on the CPU, max/min across them (target: within 10%).
2. Wall time of the default `convprof compare specs/why_convolutions.yaml` (target: under 15 s).
   The same figure from torch.utils.benchmark's blocked_autorange in as many fresh processes,
   interleaved, tells the machine's spread from the protocol's.
3. In one process, convprof's medians for why_convolutions against torch.utils.benchmark's
   blocked_autorange (1 s, same thread count) on the same built modules, taking turns three times
   (target: within 5%).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Children run with bytecode caches, as an installed convprof does (see analytic.py).
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(ROOT)}
RUNS = 5


def _convprof(*args: str) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "convprof", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, result.stdout


REFERENCE = """
import torch
from torch.utils import benchmark
from convprof.graph.build import build_model
from convprof.commands.sources import load_spec
torch.set_num_threads(1)
spec = load_spec("specs/lenet5.yaml")
model = build_model(spec, "conv").eval()
x = torch.randn(spec.batch_size, *spec.input)
timer = benchmark.Timer("model(x)", globals={"model": model, "x": x}, num_threads=1)
with torch.inference_mode():
    print(timer.blocked_autorange(min_run_time=1.0).median * 1000)
"""


def spread_across_processes() -> tuple[list[float], list[float]]:
    """Return the conv variant's CPU median (ms) in each of RUNS fresh processes, from convprof and
    from torch.utils.benchmark's blocked_autorange, the two interleaved: when the reference spreads
    as much, the spread is the machine's, not the protocol's."""
    ours, reference = [], []
    for _ in range(RUNS):
        _, out = _convprof("compare", "specs/lenet5.yaml", "--format", "json")
        ours.append(json.loads(out)["variants"]["conv"]["latency"]["cpu"]["median_ms"])
        result = subprocess.run(
            [sys.executable, "-c", REFERENCE], cwd=ROOT, env=ENV, capture_output=True, text=True, check=True
        )
        reference.append(float(result.stdout))
    return ours, reference


def wall_time() -> list[float]:
    """Return the wall seconds of RUNS default table runs of why_convolutions."""
    return [_convprof("compare", "specs/why_convolutions.yaml")[0] for _ in range(3)]


def against_blocked_autorange(rounds: int = 3) -> dict[str, tuple[float, float]]:
    """Return {variant: (convprof median ms, blocked_autorange median ms)} from one process.

    convprof and the reference take turns, `rounds` times, and each side's figure is the median of
    its rounds, so that a drift in the machine's speed falls on both."""
    sys.path.insert(0, str(ROOT))
    import torch
    from torch.utils import benchmark

    from convprof.commands.sources import load_spec
    from convprof.graph.analyze import analyze
    from convprof.graph.build import build_model
    from convprof.measure import MeasureOptions, measure_report

    spec = load_spec("why_convolutions")
    x = torch.randn(spec.batch_size, *spec.input)
    ours: dict[str, list[float]] = {}
    theirs: dict[str, list[float]] = {}
    for _ in range(rounds):
        report = measure_report(spec, analyze(spec), MeasureOptions(devices=("cpu",)))
        for variant in report.variants:
            assert variant.latency is not None
            stats = variant.latency[0].stats
            assert stats is not None
            ours.setdefault(variant.name, []).append(stats.median_ms)
            model = build_model(spec, variant.name).eval()
            timer = benchmark.Timer(
                "model(x)",
                globals={"model": model, "x": x},
                num_threads=1,
                setup="torch.set_grad_enabled(False)",
            )
            with torch.inference_mode():
                reference = timer.blocked_autorange(min_run_time=1.0)
            theirs.setdefault(variant.name, []).append(reference.median * 1000)
    return {name: (statistics.median(ours[name]), statistics.median(theirs[name])) for name in ours}


def main() -> None:
    medians, reference = spread_across_processes()
    walls = wall_time()
    agreement = against_blocked_autorange()
    load = os.getloadavg()[0]
    print(f"Machine: 2-core shared CPU, load average {load:.2f} at the end; no GPU.\n")
    print("| benchmark | target | result |")
    print("| --- | --- | --- |")
    listed = ", ".join(f"{m:.3f}" for m in medians)
    ratio = max(medians) / min(medians)
    print(f"| lenet5 conv median, {RUNS} processes (ms) | max/min <= 1.10 | {listed}; max/min {ratio:.3f} |")
    listed = ", ".join(f"{m:.3f}" for m in reference)
    ratio = max(reference) / min(reference)
    print(
        f"| same, blocked_autorange in {RUNS} processes interleaved with those (ms) | (reference) | "
        f"{listed}; max/min {ratio:.3f} |"
    )
    print(
        f"| why_convolutions default compare, wall (s) | < 15 s | median {statistics.median(walls):.2f} "
        f"(runs {', '.join(f'{w:.2f}' for w in walls)}) |"
    )
    for name, (ours, reference) in agreement.items():
        print(
            f"| why_convolutions {name}: convprof vs blocked_autorange (ms) | within 5% | "
            f"{ours:.4f} vs {reference:.4f}; ratio {ours / reference:.3f} |"
        )


if __name__ == "__main__":
    main()

"""Whole-process cost of the analytic path, against the usual alternative of building the model.

Each figure is the median of fresh processes (wall time and peak resident memory from the kernel's
own accounting of the finished child), measured in one run so the ratios hold on a noisy machine:

    python benchmarks/analytic.py [--runs 7]

1. `convprof compare specs/vgg16.yaml --no-latency --format json` (targets: < 0.3 s, < 80 MB RSS);
2. the same on a generated 400-layer spec (target: < 0.5 s), and on densenet121, the largest
   graph among the examples (427 nodes, 58 concatenations); resnet18 beside r3d_18 (its 3-D twin)
   and m5 (1-D), since the rank of a model must not change the analytic path's cost;
3. the per-layer table of densenet121 (427 rows) in a pipe and on terminals of 200 and 100 columns,
   where the table is fitted to the width;
4. a size gate, `convprof check` on every built-in example with a parameter limit (no torch:
   "well under a second");
5. the peer approach for the same numbers: import torch, build VGG-16 on the meta device, count
   parameters and FLOPs with FlopCounterMode (about 3 s elsewhere).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Children run as an installed convprof does: with bytecode caches (written by the warm-up round),
#: even where the calling shell sets PYTHONDONTWRITEBYTECODE, which would make every run recompile
#: convprof from source (about 60 ms more here).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
EXAMPLES = ["why_convolutions", "lenet5", "alexnet", "vgg16", "mobilenet_v1"]

PEER = """
import torch
from torch.utils.flop_counter import FlopCounterMode
from convprof.graph.build import build_model
from convprof.commands.sources import load_spec
spec = load_spec("specs/vgg16.yaml")
model = build_model(spec, "conv", "meta")
with FlopCounterMode(display=False) as counter:
    model(torch.empty((1, *spec.input), device="meta"))
print(sum(p.numel() for p in model.parameters()), counter.get_total_flops())
"""


def layered_spec(layers: int) -> str:
    """A valid spec of `layers` layers: conv/batchnorm/relu triples on a small image, then a head."""
    lines = ["name: deep", "input: [16, 32, 32]", "layers:"]
    body = layers - 3
    for i in range(body):
        kind = i % 3
        if kind == 0:
            lines.append("  - conv2d: {out_channels: 16, kernel_size: 3, padding: 1, bias: false}")
        elif kind == 1:
            lines.append("  - batchnorm2d")
        else:
            lines.append("  - relu")
    lines += ["  - adaptiveavgpool2d: {output_size: 1}", "  - flatten", "  - linear: {out_features: 10}"]
    return "\n".join(lines[: 3 + layers]) + "\n"


def run_once(command: list[str]) -> tuple[float, float]:
    """Return (wall seconds, peak RSS in MiB) of one fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=CHILD_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(
            f"{' '.join(command)} failed: {process.stderr.read().decode() if process.stderr else ''}"
        )
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def measure(commands: dict[str, list[str]], runs: int) -> dict[str, list[tuple[float, float]]]:
    """Run the commands in turn, one round after another, after one warm-up round."""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, command in commands.items():
            sample = run_once(command)
            if round_:
                results[name].append(sample)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        deep = Path(directory) / "deep400.yaml"
        deep.write_text(layered_spec(400))
        convprof = [sys.executable, "-m", "convprof", "compare"]
        commands = {
            "vgg16 analytic (json)": [*convprof, "specs/vgg16.yaml", "--no-latency", "--format", "json"],
            "400-layer analytic (json)": [*convprof, str(deep), "--no-latency", "--format", "json"],
            "densenet121 analytic (json)": [*convprof, "densenet121", "--no-latency", "--format", "json"],
            # Rank does not change the analytic path: the 3-D ResNet against its 2-D twin, and 1-D.
            "resnet18 analytic (json)": [*convprof, "resnet18", "--no-latency", "--format", "json"],
            "r3d_18 analytic (json)": [*convprof, "r3d_18", "--no-latency", "--format", "json"],
            "m5 analytic (json)": [*convprof, "m5", "--no-latency", "--format", "json"],
            "vgg16 analytic (table)": [*convprof, "specs/vgg16.yaml", "--no-latency"],
            # The largest per-layer table (427 rows): in a pipe (as wide as it is), and on terminals
            # of 200 and 100 columns, where columns are dropped until it fits, then records.
            "densenet121 --layers (table, pipe)": [*convprof, "densenet121", "--no-latency", "--layers"],
            "densenet121 --layers (table, 200 columns)": [
                "env",
                "COLUMNS=200",
                *convprof,
                "densenet121",
                "--no-latency",
                "--layers",
            ],
            "densenet121 --layers (table, 100 columns)": [
                "env",
                "COLUMNS=100",
                *convprof,
                "densenet121",
                "--no-latency",
                "--layers",
            ],
            "check, 5 examples, --max-params 200M": [
                sys.executable,
                "-m",
                "convprof",
                "check",
                *EXAMPLES,
                "--max-params",
                "200M",
            ],
            "peer: torch + meta build + FlopCounterMode": [sys.executable, "-c", PEER],
        }
        results = measure(commands, options.runs)
    print(f"{options.runs} runs each after a warm-up, commands interleaved; {os.cpu_count()} logical CPUs")
    print(f"{'command':44} {'median s':>9} {'min s':>7} {'max s':>7} {'peak RSS MiB':>13}")
    medians = {}
    for name, samples in results.items():
        walls = [wall for wall, _ in samples]
        rss = statistics.median(peak for _, peak in samples)
        medians[name] = statistics.median(walls)
        print(f"{name:44} {medians[name]:9.3f} {min(walls):7.3f} {max(walls):7.3f} {rss:13.1f}")
    ratio = medians["peer: torch + meta build + FlopCounterMode"] / medians["vgg16 analytic (json)"]
    print(f"peer / analytic (vgg16, json): {ratio:.1f}x")


if __name__ == "__main__":
    main()

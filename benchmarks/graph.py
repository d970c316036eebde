"""Cost of counting graphs: whole processes on ResNet-50 and on generated residual graphs, and the curve.

    python benchmarks/graph.py [--runs 7]

1. `convprof compare resnet50 --no-latency --format json` as a whole process (target: < 0.3 s median,
   torch never imported);
2. the same on generated graphs of about 250 to 4,000 nodes built from residual blocks (target:
   2,000 nodes < 0.6 s);
3. the curve: parsing and analysing each generated graph inside one process (no start-up), so that the
   cost per node shows whether counting is linear in the number of nodes.

Every figure is a median of fresh processes (or of repeats, for the curve), interleaved in one run so
that ratios hold on a noisy machine. Children run with bytecode caches, as an installed convprof does.
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
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
#: Nodes per residual block below: conv, batchnorm, relu, conv, batchnorm, add, relu.
BLOCK_NODES = 7
SIZES = (250, 500, 1000, 2000, 4000)


def residual_spec(nodes: int) -> str:
    """A valid graph of about `nodes` nodes: a stem, repeated residual blocks, a head."""
    blocks = max(1, (nodes - 6) // BLOCK_NODES)
    return f"""\
name: residual{nodes}
input: [3, 64, 64]
layers:
  - conv2d: {{out_channels: 32, kernel_size: 3, padding: 1, bias: false, name: stem}}
  - batchnorm2d
  - relu
  - repeat:
      name: blocks
      times: {blocks}
      layers:
        - residual:
            body:
              - conv2d: {{out_channels: 32, kernel_size: 3, padding: 1, bias: false}}
              - batchnorm2d
              - relu
              - conv2d: {{out_channels: 32, kernel_size: 3, padding: 1, bias: false}}
              - batchnorm2d
            after: [relu]
  - adaptiveavgpool2d: {{output_size: 1}}
  - flatten
  - linear: {{out_features: 10}}
"""


def run_once(command: list[str]) -> float:
    """Return the wall seconds of one fresh process; fail loudly if it fails or imports torch."""
    start = time.perf_counter()
    process = subprocess.run(command, cwd=ROOT, env=CHILD_ENV, capture_output=True, check=False)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.decode()}")
    return wall


CURVE = """
import sys, time
from convprof.graph.analyze import analyze
from convprof.graph.parse import parse_spec
data = open(sys.argv[1], "rb").read()
best = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    spec = parse_spec(data, sys.argv[1], "g")
    analyze(spec)
    best.append(time.perf_counter() - start)
assert "torch" not in sys.modules
best.sort()
print(len(spec.nodes), best[len(best) // 2])
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        specs = {}
        for size in SIZES:
            path = Path(directory) / f"residual{size}.yaml"
            path.write_text(residual_spec(size), encoding="utf-8")
            specs[size] = path
        convprof = [sys.executable, "-m", "convprof", "compare"]
        commands = {"resnet50": [*convprof, "resnet50", "--no-latency", "--format", "json"]}
        for size, path in specs.items():
            commands[f"residual graph ~{size} nodes"] = [
                *convprof,
                str(path),
                "--no-latency",
                "--format",
                "json",
            ]
        walls: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(options.runs + 1):  # the first round warms caches and is not counted
            for name, command in commands.items():
                wall = run_once(command)
                if round_:
                    walls[name].append(wall)
        print(f"{options.runs} fresh processes each after a warm-up, interleaved; {os.cpu_count()} CPUs")
        print(f"{'whole process':32} {'median s':>9} {'min s':>7} {'max s':>7}")
        for name, samples in walls.items():
            print(f"{name:32} {statistics.median(samples):9.3f} {min(samples):7.3f} {max(samples):7.3f}")
        print()
        print(f"{'in one process':32} {'nodes':>6} {'parse+analyze s':>16} {'us per node':>12}")
        for path in specs.values():
            out = subprocess.run(
                [sys.executable, "-c", CURVE, str(path), "5"],
                cwd=ROOT,
                env=CHILD_ENV,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            nodes, seconds = int(out[0]), float(out[1])
            print(f"{'residual graph':32} {nodes:6} {seconds:16.4f} {seconds / nodes * 1e6:12.1f}")


if __name__ == "__main__":
    main()

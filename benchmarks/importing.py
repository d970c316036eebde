"""Importing a PyTorch model against counting it with FlopCounterMode, as whole processes.

    python benchmarks/importing.py [--runs 5]

1. `convprof import benchmarks/zoo.py:resnet50 --input 3x224x224 -o FILE`: load torchvision's code,
   build ResNet-50 on the meta device, run it once reading each call, check every shape, write and
   re-read the spec;
2. the fastest peer for the same totals: import torch, build ResNet-50 on the meta device and count
   its FLOPs with FlopCounterMode (its parameters too);
3. the frozen spec counted again: `convprof compare FILE --no-latency --format json` (no torch).

Then, in this process, each model of the zoo test: parameters, FLOPs and the median time
`import_module` takes on the model built on the meta device over the same number of runs (a
Markdown table for docs/importing.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.analytic import CHILD_ENV, measure

PEER = """
import sys
sys.path.insert(0, ".")
import torch
from torch.utils.flop_counter import FlopCounterMode
from benchmarks.zoo import resnet50
with torch.device("meta"):
    model = resnet50().eval()
with FlopCounterMode(display=False) as counter:
    model(torch.empty((1, 3, 224, 224), device="meta"))
print(sum(p.numel() for p in model.parameters()), counter.get_total_flops())
"""


def zoo_table(runs: int) -> None:
    """Print the zoo's parameters, FLOPs and median import times as a Markdown table."""
    import torch

    from convprof.importing import import_module
    from convprof.report.analyze import analyze
    from tests.test_torchvision_zoo import ZOO
    from tests.torchvision_code import builder

    import_module(torch.nn.Sequential(torch.nn.ReLU()), (1,))  # one-time imports, not in the first row
    print("| model | input | params | FLOPs | import s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, (module, kwargs, shape) in ZOO.items():
        build = builder(module, name)
        if isinstance(build, str):
            raise SystemExit(build)
        try:
            with torch.device("meta"):
                model = build(**kwargs).eval()
        except NotImplementedError:
            model = build(**kwargs).to("meta").eval()
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            spec = import_module(model, shape, name=name).spec
            seconds.append(time.perf_counter() - start)
        conv = analyze(spec).variant("conv")
        size = "x".join(map(str, shape))
        print(f"| {name} | {size} | {conv.params:,} | {conv.flops:,} | {statistics.median(seconds):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    assert "PYTHONDONTWRITEBYTECODE" not in CHILD_ENV
    with tempfile.TemporaryDirectory() as directory:
        spec = str(Path(directory) / "resnet50.yaml")
        convprof = [sys.executable, "-m", "convprof"]
        commands = {
            "convprof import resnet50": [
                *convprof,
                "import",
                "benchmarks/zoo.py:resnet50",
                "--input",
                "3x224x224",
                "-o",
                spec,
            ],
            "peer: torch + meta build + FlopCounterMode": [sys.executable, "-c", PEER],
            "frozen spec: compare --no-latency": [
                *convprof,
                "compare",
                spec,
                "--no-latency",
                "--format",
                "json",
            ],
        }
        results = measure(commands, options.runs)
    print(f"{options.runs} runs each after a warm-up, commands interleaved; {os.cpu_count()} logical CPUs")
    print(f"{'command':44} {'median s':>9} {'min s':>7} {'max s':>7} {'peak RSS MiB':>13}")
    medians = {}
    for name, samples in results.items():
        walls = [wall for wall, _ in samples]
        medians[name] = statistics.median(walls)
        rss = statistics.median(peak for _, peak in samples)
        print(f"{name:44} {medians[name]:9.3f} {min(walls):7.3f} {max(walls):7.3f} {rss:13.1f}")
    ratio = medians["convprof import resnet50"] / medians["peer: torch + meta build + FlopCounterMode"]
    print(f"import / peer (resnet50): {ratio:.2f}x")
    print()
    zoo_table(options.runs)


if __name__ == "__main__":
    main()

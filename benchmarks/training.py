"""The training step's memory model against a real step, and the step's latency, per built-in example.

Run from the repository root: `python benchmarks/training.py` (a few minutes; `--examples lenet5,m5`
for some). Prints a Markdown table.

For every built-in example (`convprof examples`) and each optimizer (sgd, momentum, adam), in a fresh
process per example: the conv variant's modelled peak of one training step on the CPU
(`training_bytes`, convprof.graph.training) against the peak convprof measures on a real step (the
step `compare --training` times: train mode, zero_grad, forward, backward from a fixed gradient, the
optimizer's step; the dispatch tracker counting every storage torch's operators return), the error
in percent, and the step's median over the quick preset's rounds (one thread), its IQR and the first
step (which makes the optimizer's state). A step that does not fit in the memory `compare` would
allow (40% of what is available now) is skipped with the guard's reason, as are specs that cannot
be trained at their batch size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Children run with bytecode caches, as an installed convprof does (see analytic.py).
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(ROOT)}
OPTIMIZERS = ("sgd", "momentum", "adam")
COLUMNS = (
    *("example", "optimizer", "modelled peak", "measured peak", "error"),
    *("step median ms", "IQR", "first step ms"),
)


def measure(name: str) -> list[dict[str, Any]]:
    """Measure the conv variant of example `name` with each optimizer, in this process."""
    import torch

    from convprof.commands.sources import load_spec
    from convprof.graph.analyze import analyze
    from convprof.graph.build import build_model
    from convprof.graph.training import training_cost, untrainable
    from convprof.graph.variants import transform
    from convprof.measure import load_torch
    from convprof.measure.guard import admit_training, input_bytes, unbuildable
    from convprof.measure.options import CPU_MEMORY_FRACTION, PRESETS, available_memory
    from convprof.measure.timer import cpu_threads, run_rounds, time_once
    from convprof.measure.training import fixed_gradient, make_optimizer, measure_step_memory, training_step
    from convprof.report.stats import summarize

    load_torch()
    spec = load_spec(name)
    rows = []
    for optimizer in OPTIMIZERS:
        report = analyze(spec, optimizer)
        conv = report.variant("conv")
        cost = training_cost(transform(spec, "conv"), optimizer, "cpu")
        assert cost.peak_bytes == conv.training_bytes
        limit = int(available_memory() * CPU_MEMORY_FRACTION)
        reason = admit_training([conv], {"conv": cost}, limit, input_bytes(report))["conv"]
        reason = reason or unbuildable(spec) or untrainable(spec)
        row: dict[str, Any] = {"name": name, "optimizer": optimizer, "estimate": cost.peak_bytes}
        if reason is not None:
            rows.append({**row, "skipped": reason})
            continue
        with cpu_threads(1), torch.enable_grad():
            torch.manual_seed(0)
            model = build_model(spec, "conv").train()
            opt = make_optimizer(optimizer, list(model.parameters()))
            x = torch.randn(spec.batch_size, *spec.input)
            gradient = (fixed_gradient((spec.batch_size, *spec.nodes[-1].output_shape), x),)
            step = training_step(model, opt, (x,), lambda gradient=gradient: gradient)
            first = time_once(step, lambda: None)
            memory = measure_step_memory(model, opt, (x,), gradient, "cpu", cost.peak_bytes)
            runs = run_rounds({"conv": step}, PRESETS["quick"], lambda: None)["conv"]
        stats = summarize(runs.raw_ms, runs.rounds)
        rows.append(
            {
                **row,
                "measured": memory.peak_bytes,
                "error_percent": memory.error_percent,
                "median_ms": stats.median_ms,
                "iqr_ms": stats.iqr_ms,
                "stable": stats.stable,
                "samples": stats.samples,
                "first_ms": first,
            }
        )
        del model, opt, step
    return rows


def _bytes(value: int) -> str:
    from convprof.units import format_bytes

    return format_bytes(value)


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", help="comma-separated example names (default: every built-in one)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    from convprof.spec.examples import example_names

    names = args.examples.split(",") if args.examples else example_names()
    print(f"| {' | '.join(COLUMNS)} |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        result = subprocess.run(
            [sys.executable, __file__, "--child", name], cwd=ROOT, env=ENV, capture_output=True, text=True
        )
        if result.returncode != 0:
            why = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
            print(f"| {name} | all | | | | failed: {why} | | |", flush=True)
            continue
        for row in json.loads(result.stdout):
            if "skipped" in row:
                estimate = _bytes(row["estimate"])
                line = f"| {name} | {row['optimizer']} | {estimate} | skipped: {row['skipped']} | | | | |"
            else:
                error = "0.00%" if row["measured"] == row["estimate"] else f"{row['error_percent']:+.2f}%"
                mark = "" if row["stable"] else "~"
                iqr = f"{row['iqr_ms'] / row['median_ms']:.0%}" if row["median_ms"] else "-"
                peaks = f"{_bytes(row['estimate'])} | {_bytes(row['measured'])}"
                line = (
                    f"| {name} | {row['optimizer']} | {peaks} | {error} | {mark}{_ms(row['median_ms'])} | "
                    f"{iqr} | {_ms(row['first_ms'])} |"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()

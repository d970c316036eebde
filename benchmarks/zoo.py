"""Models people have, imported: torchvision's ResNet-50 as a model reference, and the libraries' zoo.

    python benchmarks/zoo.py [--runs 3] [--library timm]

`benchmarks/zoo.py:resnet50` is torchvision's ResNet-50 for `convprof import` (benchmarks/importing.py
times it). Run as a script, it imports each model of tests/library_zoo.py whose library is
importable (timm, ultralytics, segmentation_models_pytorch, MONAI, torchaudio; none is a dependency
of convprof), as a user would and in this process, and prints a Markdown table: its parameters and
FLOPs, whether it imports exactly with no flag (else with `--allow-unknown`, its totals then lower
bounds, or not at all) and what stops it, and the median time of the import beside that of
FlopCounterMode counting the same model on the same device (meta where the model builds there).

torchvision's model code is loaded as tests/torchvision_code.py does (`import torchvision` fails on a
CPU-only torch here); each name below builds torchvision's model of that name.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
# Run as a script, Python puts this folder first on the path, where benchmarks/html.py shadows the
# standard library's html, which timm and segmentation_models_pytorch import: the repository's root
# takes its place.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from tests.torchvision_code import builder  # noqa: E402 - after the path is set

__all__ = ["resnet50"]

#: Ops named in a row of the table before it says how many more stop the model.
_OPS_LISTED = 4


def resnet50() -> Any:
    """Return torchvision's ResNet-50."""
    build = builder("resnet", "resnet50")
    if isinstance(build, str):
        raise SystemExit(build)
    return build()


def _median_seconds(call: Any, runs: int) -> float:
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def _short(op: str) -> str:
    """Return an op as a row names it: torch.nn.functional.softmax -> F.softmax, reason dropped."""
    name = op.split(" (", 1)[0]
    return name.replace("torch.nn.functional.", "F.")


def _row(entry: Any, runs: int) -> str:
    from convprof.importing import ModelImportError, import_module
    from convprof.report.analyze import analyze
    from tests.library_zoo import build, reference

    model = build(entry)
    shapes = "; ".join("x".join(map(str, shape)) for shape in entry.inputs)
    params = sum(p.numel() for p in model.parameters())
    device = "meta" if all(t.device.type == "meta" for t in model.parameters()) else "cpu"
    flops, _ = reference(model, entry.inputs)
    peer = _median_seconds(lambda: reference(model, entry.inputs), runs)
    stops = ""
    try:
        conv = analyze(import_module(model, entry.inputs, name=entry.name).spec).variant("conv")
        exact = (conv.params, conv.flops) == (params, flops)
        status, counted = (
            ("exact" if exact else f"MISMATCH ({conv.params:,} params, {conv.flops:,} FLOPs)"),
            None,
        )
        seconds = _median_seconds(lambda: import_module(model, entry.inputs, name=entry.name), runs)
    except ModelImportError as exc:
        ops = [_short(op) for op in exc.ops] or [str(exc).split(":", 1)[0]]
        shown = ", ".join(dict.fromkeys(ops[:_OPS_LISTED]))
        more = len(dict.fromkeys(ops)) - _OPS_LISTED
        stops = shown + (f" and {more} more" if more > 0 else "")
        try:
            kept = import_module(model, entry.inputs, name=entry.name, allow_unknown=True)
            conv = analyze(kept.spec).variant("conv")
            status, counted = f"lower bound ({conv.unknown_ops} opaque)", conv.flops
        except ModelImportError:
            status, counted = "refused", None
        seconds = _median_seconds(lambda: _attempt(import_module, model, entry.inputs, entry.name), runs)
    shown_flops = f"{flops:,}" if counted is None else f">={counted:,} of {flops:,}"
    return (
        f"| {entry.library} | {entry.name} | {entry.family} | {shapes} | {params:,} | {shown_flops} | "
        f"{status} | {seconds:.3f} | {peer:.3f} ({device}) | {seconds / peer:.2f} | {stops or '-'} |"
    )


def _attempt(import_module: Any, model: Any, inputs: Any, name: str) -> None:
    """Import, as far as it gets (a refusal included: its time is the import's)."""
    from convprof.importing import ModelImportError

    with contextlib.suppress(ModelImportError):
        import_module(model, inputs, name=name, allow_unknown=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--library", help="Only this library's models (timm, ultralytics, smp, monai, torchaudio)."
    )
    options = parser.parse_args()
    import torch

    from convprof.importing import import_module
    from tests.library_zoo import ZOO, missing

    import_module(torch.nn.Sequential(torch.nn.ReLU()), (1,))  # one-time imports, not in the first row
    print(f"torch {torch.__version__}; median of {options.runs} in-process runs each")
    print()
    print(
        "| library | model | family | input | params | FLOPs | no flag | import s | FlopCounterMode s | "
        "ratio | what stops an exact import |"
    )
    print("| --- | --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | --- |")
    skipped = {}
    for entry in ZOO:
        if options.library and entry.library != options.library:
            continue
        reason = missing(entry)
        if reason is not None:
            skipped[entry.library] = reason
            continue
        print(_row(entry, options.runs), flush=True)
    for library, reason in skipped.items():
        print(f"\n{library}: not measured, {reason}")


if __name__ == "__main__":
    main()

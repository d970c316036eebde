"""Models of third-party libraries imported as a user would: timm, ultralytics, segmentation_models_pytorch,
MONAI, torchaudio (tests/library_zoo.py).

None of them is installed with convprof: each model is skipped, with the reason, where its library
cannot be imported. Every model either imports exactly (parameters, FLOPs and output shapes equal
torch's, the models of EXACT among them), or ends with one line listing each op convprof cannot count
and where the model's code makes it; then `--allow-unknown` gives exact parameters with its
arithmetic marked as a lower bound, or ends with one line too. No model gives a wrong number.
"""

from __future__ import annotations

import math

import pytest

from convprof.graph.analyze import analyze
from convprof.graph.parse import parse_spec
from convprof.importing import ImportResult, ModelImportError, import_module
from tests.library_zoo import EXACT, ZOO, ZooModel, build, missing, reference

pytestmark = pytest.mark.slow


def _imported(entry: ZooModel, model: object, allow_unknown: bool) -> ImportResult | str:
    """Return the import, or the one line that ends it."""
    try:
        return import_module(model, entry.inputs, name=entry.name, allow_unknown=allow_unknown)  # type: ignore[arg-type]
    except ModelImportError as exc:
        return str(exc)


@pytest.mark.parametrize("entry", ZOO, ids=[entry.name for entry in ZOO])
def test_a_library_model_imports_exactly_or_lists_what_it_cannot_count(entry: ZooModel) -> None:
    reason = missing(entry)
    if reason is not None:
        pytest.skip(reason)
    model = build(entry)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    flops, shapes = reference(model, entry.inputs)
    result = _imported(entry, model, allow_unknown=False)
    if isinstance(result, str):
        assert entry.name not in EXACT, result
        assert "\n" not in result
        assert " cannot count: " in result or " cannot run " in result, result
        kept = _imported(entry, model, allow_unknown=True)
        if isinstance(kept, str):
            assert "\n" not in kept
            return
        conv = analyze(kept.spec).variant("conv")
        unused = sum(item.params for item in kept.unused)
        assert conv.params == params - unused  # exact
        assert conv.unknown_ops > 0
        assert "flops" in conv.lower_bounds
        assert conv.flops <= flops  # what is counted, never more than torch counts
        return
    spec = parse_spec(result.text.encode(), f"{entry.name}.yaml", entry.name)  # as CI reads it
    conv = analyze(spec).variant("conv")
    assert result.unused == ()
    # A constant the model makes while running (YOLO's anchors and strides) is no buffer of the
    # model; each layer that reads one holds it as its buffer (the README's conventions).
    constants = sum(
        4 * math.prod(node.args.other_shape)
        for node in spec.nodes
        if node.kind == "Arithmetic" and node.args.other_shape is not None
    )
    assert (conv.params, conv.buffer_bytes - constants, conv.flops) == (params, buffers, flops)
    # Inference counts exact; parameter work leaves only what its autograd keeps a lower bound.
    assert not {"macs", "flops", "elementwise_ops"} & set(conv.lower_bounds)
    assert [spec.shape_of(index) for index in spec.output_nodes] == shapes

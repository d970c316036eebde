"""Element-wise merges are accepted exactly when torch computes each sample from that sample alone.

torch broadcasts the batched tensors from their last dimensions. Inputs of the same rank line their
batches up; inputs of different ranks put one's batch against another's sample dimension, where
torch fails, or runs and pairs one sample's values with another's (a per-sample shape that depends
on the batch). The oracle is torch itself: the inputs as batched tensors of random numbers, their sum
(or product) against the same computed one sample at a time.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from convprof.errors import SpecError
from convprof.graph.build import build_model
from convprof.kinds.merge import broadcast_shape
from tests.specbuild import make_spec

#: Per-sample shapes of the merged inputs.
CASES: dict[str, tuple[tuple[int, ...], ...]] = {
    "vector-and-volume": ((8,), (4, 8, 8)),  # the issue's: [B, 8] + [B, 4, 8, 8]
    "reshaped-and-rank-dropping-gate": ((1, 1), (1,)),  # [B, 1, 1] * [B, 1]: runs, mixes samples
    "row-against-planes": ((3,), (2, 1, 3)),
    "row-against-a-matching-plane": ((3,), (2, 2, 3)),  # runs at batch 2, fails at 3
    "same-rank-broadcast": ((4, 1, 8), (4, 8, 1)),
    "same-rank-three": ((1, 8), (8, 1), (8, 8)),
    "same-rank-mismatch": ((4, 2), (4, 3)),
}
BATCHES = (1, 2, 3)
#: Elements of the network's input, from which every branch is a linear layer and a reshape.
_FEATURES = 5


def _spec_layers(shapes: tuple[tuple[int, ...], ...], merge: str) -> list[Any]:
    layers: list[Any] = []
    for index, shape in enumerate(shapes):
        layers.append({"linear": {"name": f"l{index}", "out_features": math.prod(shape), "from": "input"}})
        layers.append({"reshape": {"name": f"r{index}", "shape": list(shape)}})
    layers.append({merge: {"from": [f"r{index}" for index in range(len(shapes))]}})
    return layers


def _torch_verdict(shapes: tuple[tuple[int, ...], ...], batch: int, merge: str) -> str:
    """What torch does with the batched inputs: `per-sample`, `mixes samples` or `fails`."""
    combine = torch.add if merge == "add" else torch.mul
    tensors = [torch.randn(batch, *shape, dtype=torch.float64) for shape in shapes]
    try:
        batched = tensors[0]
        for tensor in tensors[1:]:
            batched = combine(batched, tensor)
    except RuntimeError:
        return "fails"
    per_sample = broadcast_shape(shapes)
    if per_sample is None or tuple(batched.shape) != (batch, *per_sample):
        return "mixes samples"
    for sample in range(batch):  # each sample's result from that sample's inputs alone
        alone = tensors[0][sample]
        for tensor in tensors[1:]:
            alone = combine(alone, tensor[sample])
        if not torch.equal(batched[sample], alone):
            return "mixes samples"
    return "per-sample"


@pytest.mark.parametrize("merge", ["add", "mul"])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("case", CASES, ids=CASES.keys())
def test_a_merge_is_accepted_exactly_when_torch_computes_it_per_sample(
    case: str, batch: int, merge: str
) -> None:
    shapes = CASES[case]
    verdict = _torch_verdict(shapes, batch, merge)
    layers = _spec_layers(shapes, merge)
    if verdict != "per-sample":
        with pytest.raises(SpecError) as caught:
            make_spec((_FEATURES,), layers, batch_size=batch)
        if len({len(shape) for shape in shapes}) > 1:  # torch's batched shapes, named as it fails
            phrase = "torch cannot broadcast them" if verdict == "fails" else "mixing samples"
            assert phrase in caught.value.message
            assert f"at batch {batch}" in caught.value.message
        return
    spec = make_spec((_FEATURES,), layers, batch_size=batch)
    # The module convprof builds runs at that batch and gives the shape the spec says.
    model = build_model(spec, "conv")
    with torch.inference_mode():
        output = model(torch.randn(batch, _FEATURES))
    assert tuple(output.shape) == (batch, *spec.nodes[-1].output_shape)


def test_the_issues_case_is_refused_at_its_batch_with_torchs_shapes() -> None:
    layers = _spec_layers(((8,), (4, 8, 8)), "add")
    with pytest.raises(SpecError) as caught:
        make_spec((_FEATURES,), layers, batch_size=2)
    assert caught.value.message == (
        "layers.4 add: cannot add tensors of different ranks (8, 4x8x8) at batch 2: batched, 2x8, "
        "2x4x8x8 align from their last dimensions and torch cannot broadcast them; give the inputs the "
        "same rank (reshape or flatten one)"
    )
    assert make_spec((_FEATURES,), layers, batch_size=1).nodes[-1].output_shape == (4, 8, 8)

"""Measured memory against the analytic estimate on the built-in examples that fit."""

from __future__ import annotations

import pytest

from convprof.graph.analyze import analyze
from convprof.graph.build import build_model
from convprof.spec.sources import load_spec

torch = pytest.importorskip("torch")

from convprof.measure.memory import measure_memory  # noqa: E402 - after the torch skip

#: Conv and dense variants: the measured peak lies between the estimate and the estimate plus the input,
#: because the caller holds the network's input for the whole call while the analytic peak (the largest
#: input + output pair of one layer) counts it only at the first layer.
CASES = [
    (name, variant)
    for name in ("why_convolutions", "lenet5", "alexnet", "mobilenet_v1")
    for variant in ("conv", "dense")
    if variant == "conv" or name in ("why_convolutions", "lenet5")
]


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_memory_matches_the_estimate(name: str, variant: str) -> None:
    spec = load_spec(name)
    estimate = analyze(spec).variant(variant)
    model = build_model(spec, variant).eval()
    x = torch.randn(spec.batch_size, *spec.input)
    with torch.inference_mode():
        measured = measure_memory(model, (x,), "cpu")
    assert measured.weight_bytes == estimate.param_bytes
    assert measured.buffer_bytes == estimate.buffer_bytes
    assert estimate.activation_bytes <= measured.peak_activation_bytes
    assert measured.peak_activation_bytes <= estimate.activation_bytes + x.nbytes
    assert measured.method == "dispatch-tracking"


def test_local_variant_also_holds_its_unfolded_windows() -> None:
    spec = load_spec("why_convolutions")
    estimate = analyze(spec).variant("local")
    model = build_model(spec, "local").eval()
    x = torch.randn(spec.batch_size, *spec.input)
    with torch.inference_mode():
        measured = measure_memory(model, (x,), "cpu")
    assert measured.weight_bytes == estimate.param_bytes
    # unfold's columns: 75 window elements x 784 positions, float32, which the estimate leaves out.
    assert measured.peak_activation_bytes >= estimate.activation_bytes + 75 * 784 * 4


@pytest.mark.gpu
def test_cuda_memory_matches_the_estimate() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    spec = load_spec("lenet5")
    estimate = analyze(spec).variant("conv")
    model = build_model(spec, "conv", "cuda").eval()
    x = torch.randn(spec.batch_size, *spec.input, device="cuda")
    with torch.inference_mode():
        measured = measure_memory(model, (x,), "cuda:0")
    assert measured.weight_bytes == estimate.param_bytes
    assert measured.peak_activation_bytes >= estimate.activation_bytes // 2

"""Measured memory against the analytic estimate on the built-in examples that fit."""

from __future__ import annotations

import pytest

from convprof.commands.sources import load_spec
from convprof.graph.analyze import analyze
from convprof.graph.build import build_model

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


#: Examples whose live activations at each layer are measured: chains, residual blocks, branches
#: joined by cat, in-place activations and a U-Net's long skips.
LIVE_CASES = ("why_convolutions", "lenet5", "alexnet", "resnet18", "squeezenet1_1", "googlenet", "unet")


@pytest.mark.parametrize("name", LIVE_CASES)
def test_live_activations_at_each_layer_are_what_torch_holds(name: str) -> None:
    """Each layer's live_bytes (inference, by liveness) against what torch holds while the layer's
    module runs: every storage its operators made that is still referenced, and the input, which the
    caller holds throughout but the model counts only until its last reader has run."""
    from tests.training_oracle import Tracker

    spec = load_spec(name)
    layers = analyze(spec).variant("conv").layers
    model = build_model(spec, "conv").eval()
    x = torch.randn(spec.batch_size, *spec.input)
    assert not any(node.kind in ("Identity", "Flatten") and -1 in node.inputs for node in spec.nodes)
    last_input_reader = max(node.index for node in spec.nodes if -1 in node.inputs)
    tracker = Tracker({x.untyped_storage().data_ptr()})
    measured: dict[str, int] = {}

    def after(path: str):
        def hook(module: torch.nn.Module, args: object, out: object) -> None:
            measured[path] = tracker.window

        return hook

    for layer in layers:
        module = model.get_submodule(layer.path)
        module.register_forward_pre_hook(lambda module, args: tracker.open_window())
        module.register_forward_hook(after(layer.path))
    with torch.inference_mode(), tracker:
        model(x)
    for layer in layers:
        input_held = x.nbytes if layer.index > last_input_reader else 0
        assert layer.live_bytes is not None
        assert layer.live_bytes + input_held == measured[layer.path] + x.nbytes, layer.path
    assert max(layer.live_bytes or 0 for layer in layers) == analyze(spec).variant("conv").activation_bytes

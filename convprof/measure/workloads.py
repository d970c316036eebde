"""What the measuring protocol times of each variant: an inference, or a training step.

Each workload says which variants may be built, allocates what every variant is called on, builds a
variant (its call, and how one call's memory is measured) and turns a median into FLOP/s; the
protocol (convprof.measure.protocol) does the rest, alike for both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from convprof.graph.training import TrainingCost, training_cost, untrainable
from convprof.graph.variants import transform
from convprof.measure.guard import admit, admit_training, input_bytes, unbuildable
from convprof.measure.options import MeasureOptions
from convprof.measure.protocol import ORDER, Built
from convprof.measure.roofline import Calibration, arithmetic_intensity, bound

if TYPE_CHECKING:
    import torch

    from convprof.report import Report
    from convprof.spec import ModelSpec

__all__ = ["Inference", "Training"]

#: An inference is called on the inputs; a training step on the inputs and each output's gradient.
Inputs = tuple["torch.Tensor", ...]


def _inputs(spec: ModelSpec, device: str, channels_last: bool) -> Inputs:
    """Return the seeded random inputs every variant is timed on: one tensor per input of the spec."""
    import torch

    from convprof.graph.build import torch_dtype

    generator = torch.Generator().manual_seed(0)
    inputs = []
    for _, shape in spec.network_inputs:
        x = torch.randn(spec.batch_size, *shape, generator=generator).to(device, torch_dtype(spec.dtype))
        inputs.append(
            x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x
        )
    return tuple(inputs)


def _built(spec: ModelSpec, name: str, device: str, inputs: Inputs, channels_last: bool) -> torch.nn.Module:
    """Return variant `name` built on `device`, channels-last where asked and an input is a batch of
    images."""
    import torch

    from convprof.graph.build import build_model

    model = build_model(spec, name, device)
    if channels_last and any(x.dim() == 4 for x in inputs):
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model


def _compiled(model: torch.nn.Module, inputs: Inputs) -> Callable[[], object]:
    """Return a call of `model` compiled by torch.compile (its first call compiles)."""
    import torch

    return partial(torch.compile(model), *inputs)


@dataclass(frozen=True, slots=True)
class Inference:
    """One call of each variant in eval mode under inference_mode; its memory is MemoryMeasurement's."""

    building: ClassVar[str] = ""
    memory_of: ClassVar[str] = "memory"
    timing: ClassVar[str] = ""
    errors: ClassVar[tuple[type[BaseException], ...]] = (RuntimeError, NotImplementedError, MemoryError)

    spec: ModelSpec
    """The spec the report was analysed from."""
    report: Report
    """The report whose variants are measured."""
    device: str
    """The device measured on."""
    options: MeasureOptions
    """What was asked: memory format, torch.compile."""
    calibration: Calibration | None
    """The device's roofline, where calibrated."""

    def reasons(self, limit: int) -> dict[str, str | None]:
        """Return why each variant may not be built: the guard on its analytic memory, or a spec torch
        cannot build."""
        reasons = admit(self.report.variants, limit, input_bytes(self.report))
        blocked = unbuildable(self.spec)
        if blocked is not None:  # nothing to time: skipped with the reason, as a variant too large is
            reasons = {name: f"{name} not built: {blocked}" for name in reasons}
        return reasons

    def tensors(self) -> Inputs:
        """Allocate the inputs."""
        return _inputs(self.spec, self.device, self.options.channels_last)

    def build(self, name: str, tensors: Inputs) -> Built:
        """Build `name` in eval mode: a call on the inputs, its memory, and its compiled call where asked."""
        from convprof.measure.memory import measure_memory

        model = _built(self.spec, name, self.device, tensors, self.options.channels_last).eval()
        return Built(
            call=partial(model, *tensors),
            memory=partial(measure_memory, model, tensors, self.device),
            compiled=partial(_compiled, model, tensors) if self.options.compile else None,
        )

    def mode(self) -> AbstractContextManager[object]:
        """Return inference_mode."""
        import torch

        return torch.inference_mode()

    def refusal(self, name: str, why: str) -> str:
        """Say that torch cannot run `name` in the spec's dtype here."""
        return f"{name} cannot run in {self.spec.dtype} on {self.device}: {why}"

    def flops(self, name: str) -> int:
        """Return the variant's FLOPs."""
        return self.report.variant(name).flops

    def roofline(self, name: str, achieved: float | None) -> tuple[float | None, float | None]:
        """Return the variant's arithmetic intensity and, with a calibration, its fraction of the bound."""
        intensity = arithmetic_intensity(self.report, self.report.variant(name))
        fraction = None
        if self.calibration is not None and achieved is not None and intensity > 0:
            fraction = achieved / bound(self.calibration, intensity)
        return intensity, fraction


@dataclass(frozen=True, slots=True)
class Training:
    """One training step of each variant (convprof.measure.training); its memory is StepMemory's,
    beside the modelled peak. The protocol's first call makes the optimizer's state, so that the
    step whose memory is measured, and every timed one, is a step like any after the first."""

    building: ClassVar[str] = " for training"
    memory_of: ClassVar[str] = "training memory"
    timing: ClassVar[str] = " training"
    errors: ClassVar[tuple[type[BaseException], ...]] = (
        RuntimeError,
        ValueError,
        NotImplementedError,
        MemoryError,
    )

    spec: ModelSpec
    """The spec the report was analysed from."""
    report: Report
    """The report whose variants are measured; it names the optimizer."""
    device: str
    """The device measured on."""
    options: MeasureOptions
    """What was asked: memory format."""
    costs: Mapping[str, TrainingCost]
    """Each variant's modelled step on this device's kernels: the guard's peak and the estimate."""

    @classmethod
    def on(cls, spec: ModelSpec, report: Report, device: str, options: MeasureOptions) -> Training:
        """Return the training step of `report`'s variants on `device`, modelled for its kernels."""
        kernels = "cuda" if device.startswith("cuda") else "cpu"
        costs = {name: training_cost(transform(spec, name), report.optimizer, kernels) for name in ORDER}
        return cls(spec, report, device, options, costs)

    def reasons(self, limit: int) -> dict[str, str | None]:
        """Return why each variant's step cannot be measured: the guard on its modelled peak, a spec
        torch cannot build or train at its batch size, nothing to train."""
        spec = self.spec
        reasons = admit_training(self.report.variants, self.costs, limit, input_bytes(self.report))
        blocked = unbuildable(spec)
        if blocked is not None:
            return {name: f"{name} not built: {blocked}" for name in reasons}
        frozen = untrainable(spec)
        if frozen is not None:
            why = f"cannot be trained at batch size {spec.batch_size}: {frozen}"
            return {name: f"{name} {why}" for name in reasons}
        for variant in self.report.variants:
            if variant.trainable_params == 0 and reasons[variant.name] is None:
                frozen = " (every one is frozen)" if variant.params else ""
                reasons[variant.name] = f"{variant.name} has no parameters to train{frozen}"
        return reasons

    def tensors(self) -> tuple[Inputs, Inputs]:
        """Allocate the inputs and the fixed gradient of each output."""
        from convprof.measure.training import fixed_gradient

        spec = self.spec
        x = _inputs(spec, self.device, self.options.channels_last)
        gradient = tuple(
            fixed_gradient((spec.batch_size, *spec.nodes[index].output_shape), x[0])
            for index in spec.output_nodes
        )
        return x, gradient

    def build(self, name: str, tensors: tuple[Inputs, Inputs]) -> Built:
        """Build `name` in train mode with its optimizer: a step on the inputs and gradients, and its
        memory beside the modelled peak."""
        from convprof.measure.training import make_optimizer, measure_step_memory, training_step

        x, gradient = tensors
        model = _built(self.spec, name, self.device, x, self.options.channels_last).train()
        optimizer = make_optimizer(self.report.optimizer, list(model.parameters()))
        estimate = self.costs[name].peak_bytes
        return Built(
            call=training_step(model, optimizer, x, lambda: gradient),
            memory=partial(measure_step_memory, model, optimizer, x, gradient, self.device, estimate),
        )

    def mode(self) -> AbstractContextManager[object]:
        """Return enable_grad."""
        import torch

        return torch.enable_grad()

    def refusal(self, name: str, why: str) -> str:
        """Say that torch cannot train `name` here: its reason may have nothing to do with the dtype
        (an in-place op, say)."""
        return f"{name} cannot be trained on {self.device}: {why}"

    def flops(self, name: str) -> int:
        """Return the variant's FLOPs of a step: forward and backward."""
        return self.report.variant(name).training_flops

    def roofline(self, name: str, achieved: float | None) -> tuple[float | None, float | None]:
        """Return nothing: a training step's memory traffic is not modelled."""
        return None, None

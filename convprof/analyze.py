"""Closed-form counts of every variant, from the spec alone: pure Python, never torch."""

from __future__ import annotations

from convprof import __version__
from convprof.errors import SpecError
from convprof.kinds import ReceptiveField, ShapeError, lookup
from convprof.kinds.base import prod
from convprof.report import SCHEMA_VERSION, LayerReport, Report, SpecInfo, VariantReport
from convprof.spec import ModelSpec
from convprof.variants import VARIANTS, transform

__all__ = ["OPTIMIZER_STATES", "analyze", "analyze_variant"]

#: Optimizer state tensors kept per parameter tensor: momentum keeps a velocity, Adam two moments.
OPTIMIZER_STATES: dict[str, int] = {"sgd": 0, "momentum": 1, "adam": 2}


def analyze_variant(spec: ModelSpec, name: str, optimizer: str = "adam") -> VariantReport:
    """Count one variant of `spec` layer by layer."""
    model = transform(spec, name)
    element = spec.dtype_bytes
    batch = spec.batch_size
    spatial = len(spec.input) - 1
    rf: ReceptiveField | None = ReceptiveField((1,) * spatial, (1,) * spatial)
    input_bytes = prod(spec.input) * element * batch
    peak = saved = input_bytes
    params = macs = elementwise = buffers = 0
    layers = []
    for layer in model.layers:
        kind = lookup(layer.kind)
        assert kind is not None, layer.kind
        cost = kind.cost(layer.args, layer.input_shape, layer.output_shape)
        rf = kind.receptive_field(layer.args, layer.input_shape, rf)
        in_bytes = prod(layer.input_shape) * element * batch
        out_bytes = prod(layer.output_shape) * element * batch
        peak = max(peak, in_bytes + (0 if kind.aliases_input(layer.args, False) else out_bytes))
        if not kind.aliases_input(layer.args, True):
            saved += out_bytes
        layer_buffers = cost.buffer_elements * element + cost.buffer_fixed_bytes
        params += cost.params
        macs += cost.macs * batch
        elementwise += cost.elementwise_ops * batch
        buffers += layer_buffers
        layers.append(
            LayerReport(
                index=layer.index,
                name=layer.name,
                kind=layer.kind,
                output_shape=layer.output_shape,
                params=cost.params,
                buffer_bytes=layer_buffers,
                macs=cost.macs * batch,
                elementwise_ops=cost.elementwise_ops * batch,
                activation_bytes=out_bytes,
                receptive_field=None if rf is None else rf.size,
                fan_in=cost.fan_in,
            )
        )
    param_bytes = params * element
    return VariantReport(
        name=name,
        params=params,
        macs=macs,
        elementwise_ops=elementwise,
        param_bytes=param_bytes,
        buffer_bytes=buffers,
        activation_bytes=peak,
        saved_activation_bytes=saved,
        optimizer_bytes=OPTIMIZER_STATES[optimizer] * param_bytes,
        layers=tuple(layers),
    )


def check_batch(spec: ModelSpec) -> None:
    """Raise SpecError, at the layer, when a layer cannot run on the spec's batch size.

    Checked here rather than while parsing because `--batch-size` may replace the spec's own."""
    for layer in spec.layers:
        kind = lookup(layer.kind)
        assert kind is not None, layer.kind
        try:
            kind.check_batch(layer.args, layer.input_shape, spec.batch_size)
        except ShapeError as exc:
            raise SpecError(
                f"layers.{layer.index} {kind.name.lower()}: {exc}", spec.path, layer.line, layer.column
            ) from exc


def analyze(spec: ModelSpec, optimizer: str = "adam") -> Report:
    """Return the Report of all three variants of `spec`; SpecError if it cannot run at its batch size."""
    check_batch(spec)
    info = SpecInfo(spec.name, spec.description, spec.input, spec.batch_size, spec.dtype)
    variants = tuple(analyze_variant(spec, name, optimizer) for name in VARIANTS)
    return Report(SCHEMA_VERSION, __version__, info, optimizer, variants)

"""Closed-form counts of every variant, from the spec alone: pure Python, never torch."""

from __future__ import annotations

from convprof.errors import SpecError
from convprof.graph.layout import input_layouts, node_layouts
from convprof.graph.training import OPTIMIZERS, TrainingCost, training_cost
from convprof.graph.variants import VARIANTS, transform
from convprof.kinds import ReceptiveField, ShapeError, lookup
from convprof.kinds.strides import Layout
from convprof.report import (
    RESIDENT_ROLES,
    SCHEMA_VERSION,
    HeldTensor,
    LayerReport,
    Report,
    SpecInfo,
    TrainingPeak,
    VariantReport,
)
from convprof.spec import ModelSpec, input_position, prod
from convprof.version import __version__

__all__ = [
    "OPTIMIZER_STATES",
    "analyze",
    "analyze_variant",
    "live_activation_bytes",
    "peak_activation_bytes",
    "spec_info",
]

#: The optimizers whose training step convprof models (see convprof.graph.training).
OPTIMIZER_STATES = OPTIMIZERS


def _aliases(spec: ModelSpec, layouts: list[Layout]) -> list[bool]:
    """Return, per node, whether its output at inference is a view of its first input's storage."""
    flags = []
    for node in spec.nodes:
        kind = lookup(node.kind)
        assert kind is not None, node.kind
        flags.append(kind.aliases_input(node.args, False, input_layouts(spec, layouts, node)[0]))
    return flags


def _last_readers(spec: ModelSpec, aliases: list[bool]) -> list[int]:
    """Return, per storage owner (the network's inputs first, then each node), the last node reading it.

    A node whose output is a view of its input (a flatten of a contiguous tensor, identity, in-place
    activations) keeps its input's storage alive for as long as the view is read, so readers of the
    view count for the owner. The network's outputs outlive every node.
    """
    count = len(spec.network_inputs)

    def position(index: int) -> int:
        return input_position(index) if index < 0 else count + index

    owner = list(range(count + len(spec.nodes)))  # owner[p]: whose storage the tensor at p lives in
    last = [-1] * count + list(range(len(spec.nodes)))  # a tensor nothing reads dies once it is made
    for node in spec.nodes:
        if aliases[node.index]:
            owner[position(node.index)] = owner[position(node.inputs[0])]
        for source in node.inputs:
            holder = owner[position(source)]
            last[holder] = max(last[holder], node.index)
    for output in spec.output_nodes:
        last[owner[position(output)]] = len(spec.nodes)
    return [last[owner[p]] for p in range(len(owner))]


def _input_bytes(spec: ModelSpec) -> int:
    """Return the bytes of the network's inputs for the whole batch."""
    return sum(prod(shape) for _, shape in spec.network_inputs) * spec.dtype_bytes * spec.batch_size


def peak_activation_bytes(spec: ModelSpec, layouts: list[Layout] | None = None) -> int:
    """Peak inference activation memory by liveness, for the whole batch.

    Nodes run in order; each tensor stays alive until its last reader has run (a view adds nothing and
    keeps the tensor it views alive). The peak is the largest sum of live tensors while a node produces
    its output. On a chain this is the largest input + output pair of any layer.
    """
    live = live_activation_bytes(spec, layouts)
    return max(live) if live else _input_bytes(spec)


def live_activation_bytes(spec: ModelSpec, layouts: list[Layout] | None = None) -> list[int]:
    """Return, per node, the bytes of the activations alive at inference while it produces its output
    (for the whole batch): its output and every tensor still to be read, the network input included
    until its last reader has run. The largest is the peak (`peak_activation_bytes`)."""
    element, batch = spec.dtype_bytes, spec.batch_size
    aliases = _aliases(spec, layouts if layouts is not None else node_layouts(spec))
    last = _last_readers(spec, aliases)
    sizes = [prod(shape) * element * batch for _, shape in spec.network_inputs]
    owns = [True] * len(sizes)
    count = len(sizes)
    for node in spec.nodes:
        sizes.append(prod(node.output_shape) * element * batch)
        owns.append(not aliases[node.index])
    live = sum(sizes[:count])
    during: list[int] = []
    frees: dict[int, int] = {}
    for position in range(len(sizes)):
        frees[last[position]] = frees.get(last[position], 0) + (sizes[position] if owns[position] else 0)
    for node in spec.nodes:
        if owns[count + node.index]:
            live += sizes[count + node.index]
        during.append(live)
        live -= frees.get(node.index, 0)
    return during


def analyze_variant(spec: ModelSpec, name: str, optimizer: str = "adam") -> VariantReport:
    """Count one variant of `spec` node by node, and model its training step."""
    model = transform(spec, name)
    layouts = node_layouts(model)
    training = training_cost(model, optimizer, layouts=layouts)
    live = live_activation_bytes(model, layouts)
    element = spec.dtype_bytes
    batch = spec.batch_size
    starts: list[ReceptiveField | None] = [
        ReceptiveField((1,) * (len(shape) - 1), (1,) * (len(shape) - 1)) for _, shape in spec.network_inputs
    ]
    fields: list[ReceptiveField | None] = []
    params = frozen = macs = elementwise = buffers = 0
    layers = []
    work = {entry.path: entry for entry in spec.parameter_work}
    for node in model.nodes:
        kind = lookup(node.kind)
        assert kind is not None, node.kind
        cost = kind.node_cost(node.args, node.input_shapes, node.output_shape)
        # Arithmetic on the node's parameters alone: its own parameters, and its values once per
        # step (not per sample) as element-wise ops.
        extra = work.get(node.path)
        extra_params, extra_ops = (extra.param_elements, extra.values) if extra else (0, 0)
        rf = kind.node_receptive_field(
            node.args,
            node.input_shapes,
            tuple(starts[input_position(i)] if i < 0 else fields[i] for i in node.inputs),
        )
        fields.append(rf)
        out_bytes = prod(node.output_shape) * element * batch
        layer_buffers = cost.buffer_elements * element + cost.buffer_fixed_bytes
        params += cost.params + extra_params
        layer_frozen = cost.params + extra_params if node.frozen else 0
        frozen += layer_frozen
        # An unknown count (an opaque op's) stays unknown in its row and is left out of the total,
        # which the report then marks as a lower bound: never a silent 0.
        layer_macs = None if cost.macs is None else cost.macs * batch
        layer_ops = None if cost.elementwise_ops is None else cost.elementwise_ops * batch + extra_ops
        macs += layer_macs or 0
        elementwise += layer_ops or 0
        backward = training.backward_macs[node.index]
        buffers += layer_buffers
        layers.append(
            LayerReport(
                index=node.index,
                path=node.path,
                inputs=tuple(model.name_of(i) for i in node.inputs),
                depth=node.depth,
                kind=node.kind,
                output_shape=node.output_shape,
                params=cost.params + extra_params,
                buffer_bytes=layer_buffers,
                macs=layer_macs,
                backward_flops=None if backward is None else 2 * backward,
                elementwise_ops=layer_ops,
                activation_bytes=out_bytes,
                saved_bytes=training.saved_bytes[node.index],
                receptive_field=None if rf is None else rf.size,
                fan_in=cost.fan_in,
                frozen_params=layer_frozen,
                live_bytes=live[node.index],
                step_forward_bytes=training.forward_bytes[node.index],
                step_backward_bytes=training.backward_bytes[node.index],
            )
        )
    return VariantReport(
        name=name,
        params=params,
        frozen_params=frozen,
        macs=macs,
        backward_flops=2 * sum(macs or 0 for macs in training.backward_macs),
        elementwise_ops=elementwise,
        param_bytes=params * element,
        buffer_bytes=buffers,
        activation_bytes=max(live) if live else _input_bytes(model),
        saved_activation_bytes=training.saved_total,
        optimizer_bytes=training.optimizer_bytes,
        training_bytes=training.peak_bytes,
        layers=tuple(layers),
        step_optimizer_bytes=training.optimizer_step_bytes,
        training_peak=_training_peak(model, training, params * element, buffers),
    )


def spec_info(spec: ModelSpec) -> SpecInfo:
    """Return what a report says of `spec`: its name, inputs (by name, where it has several), batch,
    dtype and named outputs."""
    outputs = tuple(
        (name, spec.nodes[index].path, spec.nodes[index].output_shape) for name, index in spec.outputs
    )
    return SpecInfo(
        spec.name, spec.description, spec.input, spec.batch_size, spec.dtype, spec.inputs, outputs
    )


def _training_peak(model: ModelSpec, training: TrainingCost, weights: int, buffers: int) -> TrainingPeak:
    """Where the modelled step peaks and what it holds there: the tensors held throughout, then what
    the step made, by the paths of the layers that made them."""
    paths = [node.path for node in model.nodes]
    network_input = _input_bytes(model)
    resident = [
        HeldTensor(role, None, nbytes)
        for role, nbytes in zip(
            RESIDENT_ROLES, (weights, buffers, training.optimizer_bytes, network_input), strict=True
        )
        if nbytes
    ]
    made = [
        HeldTensor(held.role, None if held.node is None else paths[held.node], held.nbytes)
        for held in training.held_at_peak
    ]
    layer = None if training.peak_node is None else paths[training.peak_node]
    return TrainingPeak(training.peak_phase, layer, (*resident, *made))


def check_batch(spec: ModelSpec) -> None:
    """Raise SpecError, at the node, when a node cannot run on the spec's batch size.

    Checked here rather than while parsing because `--batch-size` may replace the spec's own."""
    for node in spec.nodes:
        kind = lookup(node.kind)
        assert kind is not None, node.kind
        try:
            kind.node_check_batch(node.args, node.input_shapes, spec.batch_size)
        except ShapeError as exc:
            raise SpecError(
                f"{node.location} {kind.name.lower()}: {exc}", spec.path, node.line, node.column
            ) from exc


def analyze(spec: ModelSpec, optimizer: str = "adam") -> Report:
    """Return the Report of all three variants of `spec`; SpecError if it cannot run at its batch size."""
    check_batch(spec)
    info = spec_info(spec)
    variants = tuple(analyze_variant(spec, name, optimizer) for name in VARIANTS)
    return Report(SCHEMA_VERSION, __version__, info, optimizer, variants)

"""The typed, validated model spec every later stage works from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from convprof.metrics import METRICS

__all__ = [
    "DTYPE_BYTES",
    "INPUT_NAME",
    "MAX_DESCRIPTION_CHARS",
    "MAX_NAME_CHARS",
    "MAX_NODES",
    "NETWORK_INPUT",
    "Budgets",
    "ModelSpec",
    "NodeSpec",
    "ParameterWork",
    "Shape",
    "input_index",
    "input_position",
    "prod",
]

#: Per-sample tensor shape, channels first: (C,), (C, L), (C, H, W) or (C, D, H, W).
Shape = tuple[int, ...]


def prod(values: Shape) -> int:
    """Product of sizes as an exact integer."""
    result = 1
    for value in values:
        result *= value
    return result


#: Bytes per element of each dtype a spec may name.
DTYPE_BYTES: dict[str, int] = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


#: Nodes a spec may expand to: repeats multiply, and counting must stay fast whatever a spec says.
MAX_NODES = 20_000
#: Characters of a name (of a spec, a block, a layer): an identifier, however descriptive.
MAX_NAME_CHARS = 10_000
#: Characters of a spec's description.
MAX_DESCRIPTION_CHARS = 65_536

#: Where a node reads the network input from, in `NodeSpec.inputs`; the k-th of several inputs is
#: `NETWORK_INPUT - k` (every negative index is an input).
NETWORK_INPUT = -1
#: What a spec with one input calls it (in `from`, and in a report's layer inputs).
INPUT_NAME = "input"


def input_index(position: int) -> int:
    """Return the index by which nodes read the network's input at `position` (0 for the first)."""
    return NETWORK_INPUT - position


def input_position(index: int) -> int:
    """Return the position of the network input a negative node index reads."""
    return NETWORK_INPUT - index


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node of the graph: a layer kind applied to the outputs of earlier nodes."""

    index: int
    """0-based position in topological order (the order the spec writes its layers)."""
    kind: str
    """Canonical kind name from the registry, e.g. `Conv2d`."""
    path: str
    """Stable hierarchical path, as torch names modules: `layer1.0.conv1`; unique in the spec."""
    args: Any
    """The kind's frozen argument dataclass."""
    inputs: tuple[int, ...]
    """Indices of the nodes it reads, in argument order; NETWORK_INPUT for the network input."""
    input_shapes: tuple[Shape, ...]
    """Per-sample shape of each input, in the order of `inputs`."""
    output_shape: Shape
    """Per-sample output shape."""
    location: str
    """Where the spec writes it: the dotted, 0-based path of its item (`layers.4`), as `--set` takes it."""
    line: int
    """1-based line of the layer in the spec."""
    column: int
    """1-based column of the layer in the spec."""
    frozen: bool = False
    """Its parameters are frozen (`frozen: true`; torch's requires_grad=False): weights in memory, but
    no gradient and no optimizer state. Only a node with parameters is frozen."""

    @property
    def input_shape(self) -> Shape:
        """The shape of the first input (the only one of a single-input kind)."""
        return self.input_shapes[0]

    @property
    def depth(self) -> int:
        """Nesting depth: 0 for a top-level node, 1 inside one block, and so on."""
        return self.path.count(".")

    def with_kind(self, kind: str) -> NodeSpec:
        """Return this node as another kind with the same arguments, inputs and shapes."""
        return replace(self, kind=kind)


@dataclass(frozen=True, slots=True)
class ParameterWork:
    """Arithmetic a layer does on its parameters alone, once per step whatever the batch: the weight
    standardization of timm's StdConv2d, computed from the weight before the convolution."""

    path: str
    """The path of the node whose parameters it computes (`stem.conv`)."""
    ops: tuple[str, ...]
    """The calls that compute them, each once, in order (`torch.nn.functional.batch_norm`)."""
    values: int
    """Values computed, once per step: counted as element-wise ops of the node, not per sample."""
    params: tuple[tuple[str, Shape], ...] = ()
    """Parameters only this work reads, by name and shape (ScaledStdConv2d's `gain`): held at the
    node's path beside the layer's own, and counted with them."""

    @property
    def param_elements(self) -> int:
        """Elements of `params`."""
        total = 0
        for _, shape in self.params:
            size = 1
            for dim in shape:
                size *= dim
            total += size
        return total


@dataclass(frozen=True, slots=True)
class Budgets:
    """Limits the conv variant (the model as written) must stay within, by metric (see
    convprof.metrics): none where none is set."""

    limits: tuple[tuple[str, int | float], ...] = ()
    """(metric, largest value allowed), in the registry's order: a size metric by its key (`params`:
    an exact integer), a measured time by its key and device (`latency_ms.cpu`: milliseconds),
    devices sorted."""

    @classmethod
    def of(cls, limits: Mapping[str, int | float]) -> Budgets:
        """Return the budgets of `limits` (`{"params": 100_000, "latency_ms.cpu": 5.0}`), in order."""
        order = {key: position for position, key in enumerate(METRICS)}

        def place(item: tuple[str, int | float]) -> tuple[int, str]:
            key, _, device = item[0].partition(".")
            return order[key], device

        unknown = [key for key in limits if key.partition(".")[0] not in order]
        if unknown:
            raise ValueError(f"no metric {unknown[0]!r}")
        return cls(tuple(sorted(limits.items(), key=place)))

    def limit(self, metric: str) -> int | float | None:
        """Return the limit on `metric` (`params`, `latency_ms.cpu`); None when none is set."""
        return dict(self.limits).get(metric)

    def devices(self, measured: str) -> tuple[tuple[str, float], ...]:
        """Return (device, ms) of each limit on a measured time (`latency_ms`), sorted by device."""
        prefix = measured + "."
        return tuple((key[len(prefix) :], float(v)) for key, v in self.limits if key.startswith(prefix))

    def merged(self, override: Budgets) -> Budgets:
        """Return these budgets with every limit `override` sets replacing its own (times per device)."""
        return Budgets.of(dict(self.limits) | dict(override.limits))


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A whole network: input, batch, dtype and a validated graph of nodes in topological order."""

    name: str
    """The spec's `name`, or its file's stem."""
    description: str
    """Free text; empty when the spec has none."""
    input: Shape
    """One sample's shape, channels first."""
    batch_size: int
    """Samples per inference; MACs and activations scale with it, parameters do not."""
    dtype: str
    """Element type of weights and activations: a key of DTYPE_BYTES."""
    nodes: tuple[NodeSpec, ...]
    """The nodes in topological order; the last one is the network's output unless `outputs` names
    others."""
    path: str
    """Where the spec came from, for messages."""
    budgets: Budgets = field(default_factory=Budgets)
    """Limits `convprof check` holds the conv variant to; empty when the spec sets none."""
    parameter_work: tuple[ParameterWork, ...] = ()
    """Arithmetic on parameters alone, by the node it computes the parameters of (imported models)."""
    inputs: tuple[tuple[str, Shape], ...] = ()
    """Every input by name and shape, in order, where the spec names them (`inputs:`; the first is
    `input`); empty for a spec of one input (`input:`)."""
    outputs: tuple[tuple[str, int], ...] = ()
    """Every output by name and node, in order, where the spec names them (`outputs:`); empty when
    the last node is the one output."""

    @property
    def dtype_bytes(self) -> int:
        """Bytes per element of the spec's dtype."""
        return DTYPE_BYTES[self.dtype]

    @property
    def output(self) -> Shape:
        """The network's (first) per-sample output shape."""
        if self.outputs:
            return self.shape_of(self.outputs[0][1])
        return self.nodes[-1].output_shape if self.nodes else self.input

    @property
    def network_inputs(self) -> tuple[tuple[str, Shape], ...]:
        """Every input by name and shape: `(("input", shape),)` for a spec of one input."""
        return self.inputs or ((INPUT_NAME, self.input),)

    @property
    def output_nodes(self) -> tuple[int, ...]:
        """The nodes whose outputs the network returns, in order."""
        if self.outputs:
            return tuple(index for _, index in self.outputs)
        return (len(self.nodes) - 1,) if self.nodes else ()

    def shape_of(self, index: int) -> Shape:
        """Return the per-sample shape of node `index`, or of the input a negative index reads."""
        if index < 0:
            return self.network_inputs[input_position(index)][1]
        return self.nodes[index].output_shape

    def name_of(self, index: int) -> str:
        """Return the path of node `index`, or the name of the input a negative index reads."""
        if index < 0:
            return self.network_inputs[input_position(index)][0]
        return self.nodes[index].path

"""Liveness: which tensors' storages are held while each node runs, for inference and a training step.

One walk serves both. Nodes run in order; each output is a new storage, or, where the node's output
is a view of its first input (a flatten of a contiguous tensor, identity, an in-place activation),
that input's storage held once more. A storage is let go once its last reader has run (a view's
readers count for the storage it views); the network's outputs outlive every node. Inference counts
nothing else (`live_activation_bytes`); a training step also keeps what autograd saves and runs a
backward after it (convprof.graph.training).

Pure Python, like the rest of the analysis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from convprof.graph.layout import input_layouts, node_layouts
from convprof.kinds import lookup
from convprof.kinds.strides import Layout
from convprof.spec import ModelSpec, NodeSpec, input_position, prod

__all__ = [
    "HeldStorage",
    "Memory",
    "Storage",
    "aliases",
    "input_bytes",
    "live_activation_bytes",
    "peak_activation_bytes",
    "walk_forward",
]


@dataclass(frozen=True, slots=True)
class HeldStorage:
    """A storage held at the peak of the modelled step, beyond the weights, buffers, optimizer state
    and input (which are held throughout)."""

    role: str
    """What it is: activation, saved, gradient, weight_gradient or workspace."""
    node: int | None
    """The node that made it (for a gradient: the node whose output it is the gradient of; for a
    workspace: the node running); None for the optimizer's temporaries."""
    nbytes: int
    """Its bytes for the batch."""


class Storage:
    """A tensor's storage, how many things still hold it, and the moments it lives through."""

    __slots__ = ("born", "died", "holders", "nbytes", "owner", "resident", "role")

    def __init__(self, nbytes: int, owner: int, role: str = "activation", *, resident: bool = False) -> None:
        self.nbytes = nbytes
        self.owner = owner  # the node that made it; -1 for a network input
        self.role = role
        self.resident = resident  # held by the caller throughout, counted apart: never let go here
        self.holders = 0
        self.born = 0  # the first moment it is held at
        self.died = -1  # the first moment it is no longer held at; -1 while it is held


class Memory:
    """Live storages and the peak of their sum (resident storages apart).

    Moments are numbered as they are recorded and each storage knows the moments it lives through, so
    what is held at the peak is found once, after the walk, without copying anything on the way."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self.moments = 0
        self.storages: list[Storage] = []
        self.peak_moment = -1
        self.peak_extra = 0
        self.phase = "forward"  # what runs now: the phase, and the node (None: the optimizer)
        self.node: int | None = None
        self.peak_at: tuple[str, int | None] = ("forward", None)

    def new(self, nbytes: int, owner: int, role: str = "activation") -> Storage:
        """Allocate a storage held once."""
        storage = Storage(nbytes, owner, role)
        storage.holders = 1
        storage.born = self.moments
        self.storages.append(storage)
        self.live += nbytes
        return storage

    def hold(self, storage: Storage) -> None:
        """Hold `storage` once more."""
        storage.holders += 1

    def release(self, storage: Storage) -> None:
        """Let go of `storage` once; its bytes leave the live total when nothing holds it."""
        storage.holders -= 1
        if storage.holders == 0 and not storage.resident:
            self.live -= storage.nbytes
            storage.died = self.moments

    def moment(self, extra: int = 0) -> int:
        """Record the current total plus `extra` bytes held for a moment; return that total."""
        total = self.live + extra
        if total > self.peak or self.peak_moment < 0:
            self.peak = max(self.peak, total)
            self.peak_moment, self.peak_extra = self.moments, extra
            self.peak_at = (self.phase, self.node)
        self.moments += 1
        return total

    def held_at_peak(self) -> tuple[HeldStorage, ...]:
        """Return the storages held at the peak, and what the running layer (or the optimizer) held
        beside them; their bytes sum to the peak."""
        moment = self.peak_moment
        alive = [
            s for s in self.storages if s.owner >= 0 and s.born <= moment and (s.died < 0 or s.died > moment)
        ]
        sizes = [s.nbytes for s in alive]
        extra = self.peak_extra
        if extra < 0:
            # A layer modelled to hold less than all it makes at once (a batch norm's statistics come
            # after its output): what it has not made yet comes off what it makes at this moment.
            for position in sorted(range(len(alive)), key=lambda i: -sizes[i]):
                if alive[position].born == moment and extra < 0:
                    taken = min(sizes[position], -extra)
                    sizes[position] -= taken
                    extra += taken
        held = [HeldStorage(s.role, s.owner, size) for s, size in zip(alive, sizes, strict=True) if size]
        if extra > 0:
            held.append(HeldStorage("workspace", self.peak_at[1], extra))
        return tuple(held)


def _nothing(index: int) -> None:
    del index


def walk_forward(
    spec: ModelSpec,
    views: Sequence[bool],
    memory: Memory,
    inputs: Sequence[Storage],
    during: Callable[[NodeSpec, list[Storage], Storage], None],
    retired: Callable[[int], None] = _nothing,
) -> list[Storage]:
    """Run `spec`'s nodes in order over `memory` and return each node's output storage.

    Each output is a new storage, or where `views[index]` its first input's, held once more.
    `during(node, sources, output)` runs once the output is made (it records the node's moment and
    holds what it keeps); then every tensor whose last reader has run is let go, a network input
    included, and `retired(index)` told of each node's; the network's outputs are kept (the caller
    lets go of them)."""
    itemsize, batch = spec.dtype_bytes, spec.batch_size
    readers = [0] * len(spec.nodes)
    input_readers = [0] * len(inputs)
    for node in spec.nodes:
        for i in node.inputs:
            if i >= 0:
                readers[i] += 1
            else:
                input_readers[input_position(i)] += 1
    returned = set(spec.output_nodes)
    outputs: list[Storage] = []

    def read(source: int) -> None:
        """Count one read of `source`; let it go after its last."""
        if source < 0:
            position = input_position(source)
            input_readers[position] -= 1
            if input_readers[position] == 0:
                memory.release(inputs[position])
            return
        readers[source] -= 1
        if readers[source] == 0:
            memory.release(outputs[source])
            retired(source)

    for node in spec.nodes:
        sources = [inputs[input_position(i)] if i < 0 else outputs[i] for i in node.inputs]
        memory.node = node.index
        if views[node.index]:
            output = sources[0]
            memory.hold(output)
        else:
            output = memory.new(prod(node.output_shape) * itemsize * batch, node.index)
        outputs.append(output)
        during(node, sources, output)
        for i in node.inputs:
            read(i)
        if readers[node.index] == 0 and node.index not in returned:
            memory.release(output)
            retired(node.index)
    return outputs


def aliases(spec: ModelSpec, layouts: list[Layout], training: bool) -> list[bool]:
    """Return, per node, whether its output is a view of its first input's storage (in training mode,
    or at inference)."""
    flags = []
    for node in spec.nodes:
        kind = lookup(node.kind)
        assert kind is not None, node.kind
        flags.append(kind.aliases_input(node.args, training, input_layouts(spec, layouts, node)[0]))
    return flags


def input_bytes(spec: ModelSpec) -> int:
    """Return the bytes of the network's inputs for the whole batch."""
    return sum(prod(shape) for _, shape in spec.network_inputs) * spec.dtype_bytes * spec.batch_size


def live_activation_bytes(spec: ModelSpec, layouts: list[Layout] | None = None) -> list[int]:
    """Return, per node, the bytes of the activations alive at inference while it produces its output
    (for the whole batch): its output and every tensor still to be read, the network input included
    until its last reader has run. The largest is the peak (`peak_activation_bytes`)."""
    views = aliases(spec, layouts if layouts is not None else node_layouts(spec), training=False)
    memory = Memory()
    inputs = [
        memory.new(prod(shape) * spec.dtype_bytes * spec.batch_size, -1) for _, shape in spec.network_inputs
    ]
    during: list[int] = []
    walk_forward(spec, views, memory, inputs, lambda node, sources, output: during.append(memory.moment()))
    return during


def peak_activation_bytes(spec: ModelSpec, layouts: list[Layout] | None = None) -> int:
    """Peak inference activation memory by liveness, for the whole batch.

    Nodes run in order; each tensor stays alive until its last reader has run (a view adds nothing and
    keeps the tensor it views alive). The peak is the largest sum of live tensors while a node produces
    its output. On a chain this is the largest input + output pair of any layer.
    """
    live = live_activation_bytes(spec, layouts)
    return max(live) if live else input_bytes(spec)

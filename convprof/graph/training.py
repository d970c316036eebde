"""One training step, modelled from the spec: backward FLOPs, what autograd keeps, and the peak memory.

Pure Python, like the rest of the analysis. The step is the one `compare --training` measures: the
forward in training mode, the backward from a gradient of the output's size (what any loss hands
back), then the optimizer's step, with the optimizer's state already made by an earlier step and the
gradients set to None before the step (torch's default `zero_grad`). Each kind says what its forward
keeps and what its backward allocates (`LayerKind.node_autograd`); this module follows every
tensor's storage through the step and takes the largest total.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from convprof.graph.layout import input_layouts, node_layouts
from convprof.kinds import LayerKind, lookup
from convprof.kinds.base import ShapeError
from convprof.kinds.records import Autograd, TrainingStep
from convprof.kinds.strides import Layout
from convprof.spec import ModelSpec, NodeSpec, input_position, prod

__all__ = [
    "OPTIMIZERS",
    "SCALAR_STEP_BYTES",
    "HeldStorage",
    "TrainingCost",
    "optimizer_scratch_bytes",
    "optimizer_state_bytes",
    "parameter_order",
    "training_cost",
    "untrainable",
]

#: Optimizer state tensors kept per parameter tensor: momentum keeps a velocity, Adam two moments.
OPTIMIZERS: dict[str, int] = {"sgd": 0, "momentum": 1, "adam": 2}
#: Bytes of the step count Adam keeps per parameter tensor (a float32 scalar tensor).
SCALAR_STEP_BYTES = 4


def optimizer_state_bytes(
    optimizer: str, tensors: tuple[int, ...], itemsize: int, device: str = "cpu"
) -> int:
    """Return the optimizer's state on `device` for parameter tensors of `tensors` elements each.

    SGD keeps none; momentum one buffer per tensor; Adam two moments and a float32 step count per
    tensor, which torch keeps on the CPU whatever the parameters' device."""
    state = OPTIMIZERS[optimizer] * sum(tensors) * itemsize
    steps = SCALAR_STEP_BYTES * len(tensors) if optimizer == "adam" and device == "cpu" else 0
    return state + steps


def optimizer_scratch_bytes(
    optimizer: str, tensors: tuple[int, ...], itemsize: int, device: str = "cpu"
) -> int:
    """Return the most bytes the optimizer's step allocates at once, with torch's default implementation.

    SGD, with or without momentum, updates in place. Adam on the CPU (single-tensor, torch's choice
    there) computes `exp_avg_sq.sqrt() / bias_correction` one tensor at a time: two temporaries the
    size of that tensor, while the previous tensor's result is still held (until the loop's next
    turn replaces it). Adam on CUDA (`foreach`, torch's choice there) takes the square roots of
    every second moment at once: one temporary the size of all the weights."""
    if optimizer != "adam" or not tensors:
        return 0
    if device == "cuda":
        return sum(tensors) * itemsize
    return max(2 * size + previous for size, previous in zip(tensors, (0, *tensors), strict=False)) * itemsize


def untrainable(spec: ModelSpec) -> str | None:
    """Return why torch cannot run `spec` in training mode at its batch size, naming the first node
    that cannot (a batch norm with one value per channel), or None when every node can."""
    for node in spec.nodes:
        kind = lookup(node.kind)
        assert kind is not None, node.kind
        try:
            kind.node_check_training(node.args, node.input_shapes, spec.batch_size)
        except ShapeError as exc:
            where = node.location if "." not in node.path else f"{node.location} ({node.path})"
            return f"{where} {kind.name.lower()}: {exc}"
    return None


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


@dataclass(frozen=True, slots=True)
class TrainingCost:
    """The modelled training step of one variant, for the whole batch."""

    backward_macs: tuple[int | None, ...]
    """Multiply-accumulates of each node's backward; None where unknown (an opaque op)."""
    saved_bytes: tuple[int | None, ...]
    """Bytes of the tensors each node makes that autograd keeps (its output, indices, masks...); None
    where the node's autograd is unknown (an opaque op: the totals are then lower bounds)."""
    saved_total: int
    """Bytes of every tensor autograd keeps at the end of the forward, each storage once (the network
    input included when a layer keeps it)."""
    optimizer_bytes: int
    """The optimizer's state."""
    peak_bytes: int
    """Peak memory of the step: weights, buffers, optimizer state and input, plus the most the step
    holds at once."""
    resident_bytes: int
    """Held throughout the step: weights, buffers, optimizer state and the network input."""
    forward_bytes: tuple[int, ...]
    """Per node, the most the step holds while its forward runs (resident bytes included)."""
    backward_bytes: tuple[int | None, ...]
    """Per node, the most the step holds while its backward runs, the sums of its inputs' gradients
    included (resident bytes included); None where no backward runs (nothing in the node or before
    it needs a gradient)."""
    optimizer_step_bytes: int
    """The most the step holds while the optimizer updates the weights (resident bytes included)."""
    peak_phase: str
    """Where the peak is: forward, backward or optimizer."""
    peak_node: int | None
    """The node whose forward or backward holds the peak; None at the optimizer's step (or in a spec
    without nodes)."""
    held_at_peak: tuple[HeldStorage, ...]
    """What the step holds at its peak beyond the resident bytes, in the order it was made: with the
    resident bytes they sum to `peak_bytes`."""


class _Storage:
    """A tensor's storage, how many things still hold it, and the moments it lives through."""

    __slots__ = ("born", "died", "holders", "nbytes", "owner", "role")

    def __init__(self, nbytes: int, owner: int, role: str = "activation") -> None:
        self.nbytes = nbytes
        self.owner = owner  # the node that made it; -1 for the network input
        self.role = role
        self.holders = 0
        self.born = 0  # the first moment it is held at
        self.died = -1  # the first moment it is no longer held at; -1 while it is held


class _Memory:
    """Live storages and the peak of their sum (the network input, held by the caller, apart).

    Moments are numbered as they are recorded and each storage knows the moments it lives through, so
    what is held at the peak is found once, after the step, without copying anything on the way."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self.moments = 0
        self.storages: list[_Storage] = []
        self.peak_moment = -1
        self.peak_extra = 0
        self.phase = "forward"  # what runs now: the phase, and the node (None: the optimizer)
        self.node: int | None = None
        self.peak_at: tuple[str, int | None] = ("forward", None)

    def new(self, nbytes: int, owner: int, role: str = "activation") -> _Storage:
        """Allocate a storage held once."""
        storage = _Storage(nbytes, owner, role)
        storage.holders = 1
        storage.born = self.moments
        self.storages.append(storage)
        self.live += nbytes
        return storage

    def hold(self, storage: _Storage) -> None:
        storage.holders += 1

    def release(self, storage: _Storage) -> None:
        storage.holders -= 1
        if storage.holders == 0 and storage.owner >= 0:
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


@dataclass(frozen=True, slots=True)
class _Node:
    """A node as the step sees it."""

    spec: NodeSpec
    kind: LayerKind
    aliases: bool  # its output is a view of its first input's storage
    needs_grad: bool  # its output needs a gradient (it or a node before it has parameters)
    in_graph: bool  # its output leads to the network's output
    grads: tuple[bool, ...]  # which inputs need a gradient
    params: tuple[int, ...]  # elements of each parameter tensor
    autograd: Autograd  # what it keeps and allocates (kept only where its output needs a gradient)
    trainable: bool  # its parameters get gradients and optimizer state (it has some, not frozen)


def _nodes(spec: ModelSpec, device: str, layouts: list[Layout] | None = None) -> list[_Node]:
    """Return the nodes with what the step needs of each."""
    needs: list[bool] = []
    in_graph = [False] * len(spec.nodes)
    for output in spec.output_nodes:
        in_graph[output] = True
    for node in reversed(spec.nodes):
        if in_graph[node.index]:
            for i in node.inputs:
                if i >= 0:
                    in_graph[i] = True
    layouts = layouts if layouts is not None else node_layouts(spec)
    work = {entry.path: entry for entry in spec.parameter_work}
    nodes = []
    for node in spec.nodes:
        kind = lookup(node.kind)
        assert kind is not None, node.kind
        params = kind.node_param_tensors(node.args, node.input_shapes, node.output_shape)
        if node.path in work:  # parameters the node's parameter work reads, held beside its own
            params += tuple(prod(shape) for _, shape in work[node.path].params)
        trainable = bool(params) and not node.frozen
        grads = tuple(
            i >= 0 and needs[i] and position not in kind.shape_inputs
            for position, i in enumerate(node.inputs)
        )
        needs.append(trainable or any(grads))
        inputs = input_layouts(spec, layouts, node)
        step = TrainingStep(
            spec.batch_size,
            spec.dtype_bytes,
            grads,
            recorded=needs[-1],
            device=device,
            layouts=inputs,
            trainable=trainable,
        )
        record = kind.node_autograd(node.args, node.input_shapes, node.output_shape, step)
        if node.path in work and work[node.path].values:
            # What autograd keeps of parameter work (a standardized weight, its statistics) is not
            # modelled: the memory over this node is a lower bound, as over an opaque op.
            record = replace(record, known=False)
        aliases = kind.aliases_input(node.args, True, inputs[0])
        nodes.append(
            _Node(node, kind, aliases, needs[-1], in_graph[node.index], grads, params, record, trainable)
        )
    return nodes


def parameter_order(spec: ModelSpec, nodes: list[_Node] | None = None) -> list[tuple[_Node, int]]:
    """Return every parameter tensor (its node, its elements) in the order the built model lists them.

    torch lists a module's own parameters, then its submodules' in the order they were added. The
    built model (a torch.fx.GraphModule, convprof.graph.build) adds each node's module at the node's
    path (a kind that is a bare parameter, `parameter_at_path`, as a parameter there), the shallowest
    paths first and otherwise in the spec's order, making the modules on the way as it goes."""
    nodes = nodes if nodes is not None else _nodes(spec, "cpu")
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {(): []}
    own: dict[tuple[str, ...], list[tuple[_Node, int]]] = {(): []}
    for node in sorted(nodes, key=lambda node: node.spec.path.count(".")):
        parts = tuple(node.spec.path.split("."))
        for end in range(1, len(parts)):
            if parts[:end] not in children:
                children[parts[: end - 1]].append(parts[:end])
                children[parts[:end]] = []
                own[parts[:end]] = []
        if node.kind.parameter_at_path:
            own[parts[:-1]] += [(node, size) for size in node.params]
        else:
            children[parts[:-1]].append(parts)
            children[parts] = []
            own[parts] = [(node, size) for size in node.params]
    order: list[tuple[_Node, int]] = []

    def visit(path: tuple[str, ...]) -> None:
        order.extend(own[path])
        for child in children[path]:
            visit(child)

    visit(())
    return order


def training_cost(
    spec: ModelSpec, optimizer: str, device: str = "cpu", layouts: list[Layout] | None = None
) -> TrainingCost:
    """Model one training step of `spec` (one variant, already transformed) with `optimizer`, as
    torch's kernels for `device` (`cpu` or `cuda`) run it."""
    itemsize, batch = spec.dtype_bytes, spec.batch_size
    nodes = _nodes(spec, device, layouts)
    memory = _Memory()
    network_inputs = [_Storage(prod(shape) * itemsize * batch, -1) for _, shape in spec.network_inputs]
    for storage in network_inputs:
        storage.holders = 1  # the caller's
    returned = set(spec.output_nodes)

    def size(node: _Node) -> int:
        return prod(node.spec.output_shape) * itemsize * batch

    # Forward: an output lives until its last reader has run and the backward of every node that
    # keeps it; a node whose output leads nowhere lets go of what it kept with its output.
    readers = [0] * len(nodes)
    for node in nodes:
        for i in node.spec.inputs:
            if i >= 0:
                readers[i] += 1
    outputs: list[_Storage] = []
    kept: list[list[_Storage]] = []
    everything_kept: dict[int, _Storage] = {}

    def retire(index: int) -> None:
        """Let go of an output nothing reads any more (and, off the graph, of what it kept)."""
        memory.release(outputs[index])
        if not nodes[index].in_graph:  # its autograd graph dies with it
            for storage in kept[index]:
                memory.release(storage)
            kept[index] = []

    forward_bytes: list[int] = []
    for node in nodes:
        sources = [network_inputs[input_position(i)] if i < 0 else outputs[i] for i in node.spec.inputs]
        record = node.autograd
        memory.node = node.spec.index
        if node.aliases:
            output = sources[0]
            memory.hold(output)
        else:
            output = memory.new(size(node), node.spec.index)
        outputs.append(output)
        keeps = [memory.new(nbytes, node.spec.index, "saved") for nbytes in record.keeps_new]
        fresh = (0 if node.aliases else output.nbytes) + sum(record.keeps_new)
        forward_bytes.append(
            memory.moment((record.forward_peak if record.forward_peak is not None else fresh) - fresh)
        )
        if not node.needs_grad:  # nothing records it: what it made for a backward goes at once
            for storage in keeps:
                memory.release(storage)
            keeps = []
        else:
            for i in record.keeps_inputs:
                memory.hold(sources[i])
                keeps.append(sources[i])
            if record.keeps_output:
                memory.hold(output)
                keeps.append(output)
            for storage in keeps:
                everything_kept[id(storage)] = storage
        kept.append(keeps)
        for i in node.spec.inputs:
            if i >= 0:
                readers[i] -= 1
                if readers[i] == 0:
                    retire(i)
        if readers[node.spec.index] == 0 and node.spec.index not in returned:
            retire(node.spec.index)

    saved_total = sum(storage.nbytes for storage in everything_kept.values())
    saved_bytes: list[int | None] = [0] * len(nodes)
    for storage in everything_kept.values():
        if storage.owner >= 0:
            saved_bytes[storage.owner] = (saved_bytes[storage.owner] or 0) + storage.nbytes
    for node in nodes:
        if node.needs_grad and not node.autograd.known:
            saved_bytes[node.spec.index] = None

    # Backward, in reverse order, from a gradient of each output's size that the caller holds.
    memory.phase = "backward"
    gradients: list[_Storage | None] = [None] * len(nodes)
    backward_bytes: list[int | None] = [None] * len(nodes)
    # Where a gradient is an expanded view (a sum's), its layout: a node that views it in another
    # shape copies it first.
    expanded: list[Layout | None] = [None] * len(nodes)
    loss_gradients = []
    for index in sorted(returned):
        if nodes[index].needs_grad:
            memory.node = index
            loss_gradient = memory.new(size(nodes[index]), index, "gradient")
            memory.hold(loss_gradient)
            gradients[index] = loss_gradient
            loss_gradients.append(loss_gradient)
    if loss_gradients:
        # The moment the loss gradients are made belongs to the first node whose backward runs.
        first = max(index for index in returned if nodes[index].needs_grad)
        memory.node = first
        backward_bytes[first] = memory.moment()
    for node in reversed(nodes):
        incoming = gradients[node.spec.index]
        record = node.autograd
        if not node.needs_grad or incoming is None:
            continue
        memory.node = node.spec.index
        loss = backward_bytes[node.spec.index]  # the first to run: the moment the loss gradients were made
        moments = [] if loss is None else [loss]
        layout = expanded[node.spec.index]
        this = node.spec
        if layout is not None and node.kind.node_grad_copy(
            this.args, this.input_shapes, this.output_shape, layout
        ):
            copy = memory.new(size(node), node.spec.index, "gradient")  # read in place of the expanded one
            moments.append(memory.moment())
            memory.release(incoming)
            incoming = copy
        made: list[tuple[int, _Storage]] = []
        widened = dict(record.expanded_grads)
        if layout is not None and incoming is gradients[node.spec.index]:  # viewed, not copied
            passed = node.kind.node_grad_view(this.args, this.input_shapes, this.output_shape, layout)
            if passed is not None:
                widened = dict.fromkeys(record.grad_views, passed)
        for position, i in enumerate(node.spec.inputs):
            if not node.grads[position]:
                continue
            if position in record.grad_views:
                memory.hold(incoming)
                made.append((i, incoming))
                if i >= 0 and position in widened and gradients[i] is None:
                    expanded[i] = widened[position]
            else:
                made.append((i, memory.new(size(nodes[i]), i, "gradient")))
        new_bytes = sum(grad.nbytes for _, grad in made if grad is not incoming)
        param_grads = sum(node.params) * itemsize if node.trainable else 0
        default = new_bytes + param_grads
        moments.append(
            memory.moment((record.backward_peak if record.backward_peak is not None else default) - new_bytes)
        )
        if param_grads:  # kept until the optimizer's step
            memory.new(param_grads, node.spec.index, "weight_gradient")
        for storage in kept[node.spec.index]:
            memory.release(storage)
        kept[node.spec.index] = []
        memory.release(incoming)
        gradients[node.spec.index] = None
        moments.append(memory.moment(record.backward_after))
        for i, grad in made:
            previous = gradients[i]
            if previous is None:
                gradients[i] = grad
                continue
            expanded[i] = None
            total = memory.new(size(nodes[i]), i, "gradient")  # torch sums two gradients out of place
            moments.append(memory.moment())
            memory.release(previous)
            memory.release(grad)
            gradients[i] = total
        backward_bytes[node.spec.index] = max(moments)
    for gradient in gradients:
        if gradient is not None:
            memory.release(gradient)
    for index in sorted(returned):
        memory.release(outputs[index])
    for loss_gradient in loss_gradients:
        memory.release(loss_gradient)

    # The optimizer's step, over the parameters that have a gradient (a frozen layer's have none, nor
    # has a layer whose output leads nowhere, and the optimizer skips them), in the order torch lists
    # them.
    order = [(node, size) for node, size in parameter_order(spec, nodes) if node.in_graph and node.trainable]
    stepped = tuple(size for _, size in order)
    tensors = tuple(elements for node in nodes for elements in node.params)
    # An opaque op's parameters may split into any tensors: its temporaries are left out.
    split = tuple(size for node, size in order if node.autograd.known)
    memory.phase, memory.node = "optimizer", None
    optimizer_step = memory.moment(optimizer_scratch_bytes(optimizer, split, itemsize, device))
    state = optimizer_state_bytes(optimizer, stepped, itemsize, device)
    buffers = 0
    for node in nodes:
        cost = node.kind.node_cost(node.spec.args, node.spec.input_shapes, node.spec.output_shape)
        buffers += cost.buffer_elements * itemsize + cost.buffer_fixed_bytes
    resident = sum(tensors) * itemsize + buffers + state + sum(storage.nbytes for storage in network_inputs)
    backward: list[int | None] = []
    for node in nodes:
        macs = node.kind.node_backward_macs(
            node.spec.args, node.spec.input_shapes, node.spec.output_shape, node.grads, node.trainable
        )
        backward.append(None if macs is None else batch * macs)
    return TrainingCost(
        backward_macs=tuple(backward),
        saved_bytes=tuple(saved_bytes),
        saved_total=saved_total,
        optimizer_bytes=state,
        peak_bytes=resident + memory.peak,
        resident_bytes=resident,
        forward_bytes=tuple(resident + total for total in forward_bytes),
        backward_bytes=tuple(None if total is None else resident + total for total in backward_bytes),
        optimizer_step_bytes=resident + optimizer_step,
        peak_phase=memory.peak_at[0],
        peak_node=memory.peak_at[1],
        held_at_peak=memory.held_at_peak(),
    )

"""What a refusal of a spec suggests: the name meant, a kind of the input's rank, and how to make
a block's two ends mergeable. The parser decides what is wrong; this says how to put it right."""

from __future__ import annotations

import difflib
import re

from convprof.errors import SpecError
from convprof.kinds import ShapeError, all_kinds, lookup
from convprof.spec import NodeSpec, Shape, prod
from convprof.spec.args import MAX_INT

__all__ = ["explain_merge", "suggest", "suggest_kind", "too_many_elements"]


def too_many_elements(shape: Shape) -> str:
    return (
        f"{prod(shape):,} elements per sample ({'x'.join(map(str, shape))}), more than torch can index "
        f"({MAX_INT:,}, 2**63 - 1); use smaller sizes"
    )


def suggest(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(word.lower(), options, n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


#: Names other libraries give what a spec writes otherwise, and the hint each gets (`{rank}` is the
#: input's spatial rank).
_SE = "squeeze-and-excitation is a gate block: - gate: {{body: [...]}}"
_KNOWN_AS: dict[str, str] = {
    "se": _SE,
    "squeezeexcitation": _SE,
    "squeeze_excitation": _SE,
    "fc": "did you mean linear?",
    "dense": "did you mean linear?",
    "concat": "did you mean cat?",
    "conv": "did you mean conv{rank}d?",
    "bn": "did you mean batchnorm{rank}d?",
    "pool": "did you mean maxpool{rank}d or avgpool{rank}d?",
    "gap": "did you mean adaptiveavgpool{rank}d: {{output_size: 1}}?",
    "globalavgpool": "did you mean adaptiveavgpool{rank}d: {{output_size: 1}}?",
    "upsampling": "did you mean upsample?",
    "interpolate": "did you mean upsample?",
    "swish": "did you mean silu?",
}
#: A kind's spatial rank, from its name (`conv2d`, `maxpool3d`); kinds of any rank have none.
_KIND_RANK = re.compile(r"([123])d$")


def suggest_kind(word: str, rank: int, blocks: list[str]) -> str:
    """Suggest a kind for an unknown `word` read by an input of `rank` spatial dimensions: the kind of
    that rank first (`maxpool` on an image is maxpool2d), then other libraries' names for a kind,
    then the closest name among the kinds that take that rank."""
    key = word.lower()
    public = [k.name.lower() for k in all_kinds() if k.public]
    if 1 <= rank <= 3 and f"{key}{rank}d" in public:
        return f" (did you mean {key}{rank}d? the input here is {rank}-D)"
    if key in _KNOWN_AS:
        return f" ({_KNOWN_AS[key].format(rank=rank if 1 <= rank <= 3 else 2)})"

    def fits(name: str) -> bool:
        match = _KIND_RANK.search(name)
        return match is None or int(match[1]) == rank

    ranked = [name for name in public if fits(name)] + blocks
    return suggest(word, ranked) or suggest(word, public + blocks)


def _shape(shape: Shape) -> str:
    return "x".join(map(str, shape))


#: How a message says each merge joins a tensor to another.
_VERBS = {"add": "add to", "mul": "multiply by", "cat": "concatenate with"}


def _merge_fix(node: NodeSpec, target: Shape, given: Shape, verb: str, block: str) -> str:
    """Say how to make `node`'s output mergeable with `target`: keep its input's size, or change the
    other end (a residual's shortcut, a block's first path) to what the layer makes."""
    made = node.output_shape
    if len(made) != len(target):
        return f"make both ends {len(target)}-dimensional, as {_shape(target)}"
    rank = len(made) - 1
    fixes = []
    stride = getattr(node.args, "stride", None)
    strides = stride if isinstance(stride, tuple) else (stride,)
    unit_stride = stride is not None and all(s == 1 for s in strides)
    padded = getattr(node.args, "padding", None) is not None
    if made[1:] != target[1:] and given[1:] == target[1:] and unit_stride and padded:
        fixes.append("give it padding so that it keeps its input's size (padding: same, with stride 1)")
    sized = getattr(node.args, "out_channels", None) is not None
    if made[0] != target[0] and made[1:] == target[1:] and given[0] == target[0] and verb != "cat" and sized:
        fixes.append(f"give it out_channels: {target[0]}")
    if rank and verb != "cat":
        factors = [t // m if m and t % m == 0 else 0 for t, m in zip(target[1:], made[1:], strict=True)]
        if all(factors) and (made[0] != target[0] or any(f != 1 for f in factors)):
            stride = factors[0] if len(set(factors)) == 1 else list(factors)
            strided = f", stride: {stride}" if any(f != 1 for f in factors) else ""
            projection = f"[conv{rank}d: {{out_channels: {made[0]}, kernel_size: 1{strided}}}]"
            fixes.append(
                f"project the shortcut to {_shape(made)}: shortcut: {projection}"
                if block == "residual"
                else f"end the first path with {projection}, making {_shape(made)}"
            )
    if not fixes and verb == "cat":
        fixes.append("every dimension but the one joined must be equal: make it keep its input's size")
    elif not fixes:
        fixes.append(f"make it give {_shape(target)}, or change the other end to {_shape(made)}")
    return "; or ".join(fixes)


def explain_merge(
    nodes: list[NodeSpec],
    shapes: dict[int, Shape],
    path: str,
    kind_name: str,
    dim: int | None,
    inputs: tuple[int, int],
    first: int,
    block: str,
) -> None:
    """Raise a SpecError at the layer that made a block's two ends unmergeable, with the fix.

    `inputs` are the other end (a shortcut, the first path) and the end of the layers parsed from
    node `first` on (a body, another path). The layer named is the one of those whose output the
    merge cannot take while it could take its input: the one that changed the shape."""
    kind = lookup(kind_name)
    assert kind is not None, kind_name
    args = kind.Args(dim=dim) if dim is not None else kind.Args()
    target = shapes[inputs[0]]

    def mergeable(shape: Shape) -> bool:
        try:
            kind.node_output_shape(args, (target, shape))
        except ShapeError:
            return False
        return True

    culprit = inputs[1]
    if culprit < first or mergeable(shapes[culprit]):
        return  # nothing parsed here made the shape; the merge says what it cannot join
    while True:
        node = nodes[culprit]
        source = node.inputs[0]
        if mergeable(shapes[source]):
            break
        if source < first:  # the other end changed the shape too: the merge names both shapes
            return
        culprit = source
    made, given = node.output_shape, node.input_shapes[0]
    label = node.kind.lower()
    where = node.location if "." not in node.path else f"{node.location} ({node.path})"
    verb = kind_name.lower()
    other = "its shortcut" if block == "residual" else "the first path"
    raise SpecError(
        f"{where} {label} makes {_shape(made)} of {_shape(given)}, which the {block} block cannot "
        f"{_VERBS[verb]} {other}'s {_shape(target)}; {_merge_fix(node, target, given, verb, block)}",
        path,
        node.line,
        node.column,
    )

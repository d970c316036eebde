"""Spec text to a validated ModelSpec graph; every error names the file, line and column.

A spec writes its network as a list of layers and blocks; the parser expands the blocks into nodes
(each with a stable path, the nodes it reads and its shapes) and nothing after it knows blocks existed.
This module reads the document (its name, inputs, batch, dtype, outputs, budgets and parameter
work); convprof.graph.layers reads its `layers`.
"""

from __future__ import annotations

import re

from convprof.errors import SpecError
from convprof.graph.advice import suggest, too_many_elements
from convprof.graph.layers import (
    BLOCKS,
    FROZEN,
    INPUT_REFERENCE,
    ROOT_REFERENCE,
    LayerReader,
    SpecReader,
    WidthRule,
)
from convprof.spec import (
    DTYPE_BYTES,
    MAX_DESCRIPTION_CHARS,
    MAX_NODES,
    NETWORK_INPUT,
    Budgets,
    ModelSpec,
    Shape,
    input_index,
    prod,
)
from convprof.spec.args import MAX_INT, choice, describe, positive_int, string
from convprof.spec.budgets import parse_budgets
from convprof.spec.work import parse_parameter_work
from convprof.spec.yamlnode import Mapping, Node, Scalar, Sequence, load_nodes
from convprof.units import clip

__all__ = ["BLOCKS", "FROZEN", "MAX_NODES", "WidthRule", "parse_nodes", "parse_spec"]

#: The keys a spec's top level takes.
_TOP_KEYS = (
    "name",
    "description",
    "input",
    "inputs",
    "batch_size",
    "dtype",
    "layers",
    "outputs",
    "budgets",
    "parameter_work",
)
#: Longest name an output takes.
_MAX_OUTPUT_NAME = 200
#: Ranks an input may have: (C,), (C, L), (C, H, W), (C, D, H, W).
_MAX_INPUT_RANK = 4
#: How `input` may be written, for messages.
_INPUT_FORMS = (
    "a list such as [3, 32, 32] or sizes joined by x such as 3x32x32 (channels first, 1 to 4 sizes)"
)
#: One size in `input: 3x32x32`.
_DIGITS = re.compile(r"\d{1,100}")


class _Document(SpecReader):
    """Reads a spec's top-level fields around its `layers`."""

    def __init__(self, path: str, width: WidthRule | None, batch_size: int | None) -> None:
        super().__init__(path)
        self.width = width
        self.batch_size = batch_size
        """The batch given on the command line (`--batch-size`), over the spec's own; None for its own."""

    def spec(self, root: Node, default_name: str) -> ModelSpec:
        if isinstance(root, Scalar):
            # Nothing of a file that is no spec is quoted: it may be any file (a key, a token).
            raise self.error(
                root,
                f"a spec is a mapping with `input` and `layers`; this file holds a single "
                f"{'string' if root.tag == 'str' else root.tag} value, not a spec",
            )
        if not isinstance(root, Mapping):
            raise self.error(root, f"a spec is a mapping with `input` and `layers`, got {describe(root)}")
        for key, (key_node, _) in root.items.items():
            if key not in _TOP_KEYS:
                hint = suggest(key, list(_TOP_KEYS)) or f"; allowed: {', '.join(_TOP_KEYS)}"
                raise self.error(key_node, f"unknown top-level key {clip(key)}{hint}")

        def get(key: str) -> Node | None:
            item = root.items.get(key)
            return item[1] if item else None

        name_node, description_node = get("name"), get("description")
        name = self.identifier(name_node, "name") if name_node else default_name
        description = self.field("description", string, description_node) if description_node else ""
        if len(description) > MAX_DESCRIPTION_CHARS:
            assert description_node is not None
            raise self.error(
                description_node,
                f"description: {len(description):,} characters; a description has at most "
                f"{MAX_DESCRIPTION_CHARS:,}",
            )
        input_node, inputs_node = get("input"), get("inputs")
        named: tuple[tuple[str, Shape], ...] = ()
        if input_node is not None and inputs_node is not None:
            raise self.error(inputs_node, "give `input` (one input) or `inputs` (several, by name), not both")
        if inputs_node is not None:
            named = self.named_inputs(inputs_node)
            shape = named[0][1]
        elif input_node is None:
            raise self.error(root, "missing `input`: one sample's shape, e.g. input: [3, 32, 32]")
        else:
            shape = self.input(input_node)
        input_names = {name: input_index(position) for position, (name, _) in enumerate(named)}
        input_names = input_names or {INPUT_REFERENCE: NETWORK_INPUT}
        input_shapes = {
            input_index(position): size
            for position, (_, size) in enumerate(named or ((INPUT_REFERENCE, shape),))
        }
        batch_node, dtype_node = get("batch_size"), get("dtype")
        batch_size = self.field("batch_size", positive_int, batch_node) if batch_node else 1
        if self.batch_size is not None:  # --batch-size: layers are checked at the batch that will run
            batch_size = self.batch_size
        dtype = self.field("dtype", choice(*DTYPE_BYTES), dtype_node) if dtype_node else "float32"
        layers_node = get("layers")
        if layers_node is None:
            raise self.error(
                root, "missing `layers`: a list such as [conv2d: {out_channels: 6, kernel_size: 5}]"
            )
        if not isinstance(layers_node, Sequence):
            raise self.error(layers_node, f"`layers` must be a list of layers, got {describe(layers_node)}")
        if not layers_node.items:
            raise self.error(
                layers_node,
                "`layers` is empty; list at least one layer, "
                "e.g. - conv2d: {out_channels: 6, kernel_size: 5}",
            )
        layers = LayerReader(self.path, self.width, batch_size, input_names, input_shapes)
        layers.sequence(layers_node, NETWORK_INPUT, "`layers`", "layers")
        budgets_node = get("budgets")
        budgets = parse_budgets(budgets_node, self.path) if budgets_node else Budgets()
        work_node = get("parameter_work")
        work = parse_parameter_work(work_node, self.path, layers.paths) if work_node else ()
        outputs_node = get("outputs")
        outputs = self.outputs(outputs_node, layers.paths) if outputs_node is not None else ()
        return ModelSpec(
            name,
            description,
            shape,
            batch_size,
            dtype,
            tuple(layers.nodes),
            self.path,
            budgets,
            work,
            named,
            outputs,
        )

    def named_inputs(self, node: Node) -> tuple[tuple[str, Shape], ...]:
        """Return `inputs`: each input's name and shape, in order."""
        if not isinstance(node, Mapping) or not node.items:
            raise self.error(
                node,
                "`inputs` maps each input's name to one sample's shape, e.g. "
                f"{{image: [3, 64, 64], mask: [1, 64, 64]}}, got {describe(node)}",
            )
        named = []
        for key, (key_node, value) in node.items.items():
            if not key or "." in key or not key.isprintable():
                raise self.error(
                    key_node, f"inputs: {key!r} is not a name; use letters, digits and _ without dots"
                )
            named.append((key, self.input(value)))
        return tuple(named)

    def outputs(self, node: Node, paths: dict[str, int]) -> tuple[tuple[str, int], ...]:
        """Return `outputs`: each output's name and the layer (of `paths`) it is, in order."""
        if not isinstance(node, Mapping) or not node.items:
            raise self.error(
                node,
                "`outputs` maps each output's name to a layer's path, e.g. {boxes: head.cat}, "
                f"got {describe(node)}",
            )
        outputs = []
        for key, (key_node, value) in node.items.items():
            if not key.strip() or len(key) > _MAX_OUTPUT_NAME or not key.isprintable():
                raise self.error(key_node, f"outputs: {key!r} is not a name for an output")
            text = self.field(f"outputs {key}", string, value)
            index = paths.get(text.removeprefix(ROOT_REFERENCE))
            if index is None:
                hint = suggest(text, list(paths))
                raise self.error(value, f"outputs {key}: no layer has the path {text!r}{hint}")
            outputs.append((key, index))
        return tuple(outputs)

    def bad_input(self, node: Node) -> SpecError:
        return self.error(node, f"`input` must be one sample's shape, {_INPUT_FORMS}, got {describe(node)}")

    def input(self, node: Node) -> Shape:
        """Return one input's shape."""
        if isinstance(node, Scalar) and node.tag in ("str", "int"):
            # `3x32x32`, as `--input` takes it (and a bare size for a 1-D input).
            parts = [part.strip() for part in re.split(r"[x,]", node.text.strip().lower())]
            if 1 <= len(parts) <= _MAX_INPUT_RANK and all(_DIGITS.fullmatch(part) for part in parts):
                items: tuple[Node, ...] = tuple(
                    Scalar(int(part), part, "int", False, node.line, node.column) for part in parts
                )
            else:
                raise self.bad_input(node)
        elif isinstance(node, Sequence) and 1 <= len(node.items) <= _MAX_INPUT_RANK:
            items = tuple(node.items)
        else:
            raise self.bad_input(node)
        shape = tuple(self.field("input", positive_int, item) for item in items)
        if prod(shape) > MAX_INT:
            raise self.error(node, f"`input` has {too_many_elements(shape)}")
        return shape


def parse_nodes(
    root: Node,
    path: str,
    default_name: str,
    width: WidthRule | None = None,
    batch_size: int | None = None,
) -> ModelSpec:
    """Validate a spec already loaded as located nodes (for tools that edit the tree first).

    `batch_size` replaces the spec's own (`--batch-size`); `width` scales it (`sweep --width`)."""
    return _Document(path, width, batch_size).spec(root, default_name)


def parse_spec(data: bytes, path: str, default_name: str, batch_size: int | None = None) -> ModelSpec:
    """Parse and fully validate a spec; raise SpecError naming file, line and column.

    `batch_size` replaces the spec's own (a command's --batch-size)."""
    return parse_nodes(load_nodes(data, path), path, default_name, batch_size=batch_size)

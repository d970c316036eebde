"""Spec text to a validated ModelSpec; every error names the file, line and column."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

from convprof.args import MAX_INT, choice, describe, positive_int, string
from convprof.budgets import parse_budgets
from convprof.errors import SpecError
from convprof.kinds import ShapeError, all_kinds, lookup
from convprof.kinds.base import prod
from convprof.spec import DTYPE_BYTES, Budgets, LayerSpec, ModelSpec, Shape
from convprof.yamlnode import Mapping, Node, Scalar, Sequence, load_nodes

__all__ = ["parse_nodes", "parse_spec"]

_TOP_KEYS = ("name", "description", "input", "batch_size", "dtype", "layers", "budgets")
#: Torch arguments convprof infers from the previous layer, by the kind field they would feed.
_INFERRED = ("in_channels", "in_features", "num_features")
#: Ranks an input may have: (C,), (C, L), (C, H, W), (C, D, H, W).
_MAX_INPUT_RANK = 4


def _too_many(shape: Shape) -> str:
    return (
        f"{prod(shape):,} elements per sample ({'x'.join(map(str, shape))}), more than torch can index "
        f"({MAX_INT:,}, 2**63 - 1); use smaller sizes"
    )


def _suggest(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(word.lower(), options, n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


class _Parser:
    def __init__(self, path: str, batch_size: int | None = None) -> None:
        self.path = path
        self.batch_size = batch_size

    def field(self, label: str, coerce: Callable[[Node, str], Any], node: Node) -> Any:
        """Coerce `node`, naming the field in the message when it is wrong."""
        try:
            return coerce(node, self.path)
        except SpecError as exc:
            raise SpecError(f"{label}: {exc.message}", exc.path, exc.line, exc.column) from None

    def error(self, node: Node, message: str) -> SpecError:
        return SpecError(message, self.path, node.line, node.column)

    def spec(self, root: Node, default_name: str) -> ModelSpec:
        if not isinstance(root, Mapping):
            raise self.error(root, f"a spec is a mapping with `input` and `layers`, got {describe(root)}")
        for key, (key_node, _) in root.items.items():
            if key not in _TOP_KEYS:
                hint = _suggest(key, list(_TOP_KEYS)) or f"; allowed: {', '.join(_TOP_KEYS)}"
                raise self.error(key_node, f"unknown top-level key {key!r}{hint}")

        def get(key: str) -> Node | None:
            item = root.items.get(key)
            return item[1] if item else None

        name_node, description_node = get("name"), get("description")
        name = self.field("name", string, name_node) if name_node else default_name
        description = self.field("description", string, description_node) if description_node else ""
        input_node = get("input")
        if input_node is None:
            raise self.error(root, "missing `input`: one sample's shape, e.g. input: [3, 32, 32]")
        shape = self.input(input_node)
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
        layers = self.layers(layers_node, shape, batch_size)
        budgets_node = get("budgets")
        budgets = parse_budgets(budgets_node, self.path) if budgets_node else Budgets()
        return ModelSpec(name, description, shape, batch_size, dtype, layers, self.path, budgets)

    def input(self, node: Node) -> Shape:
        if not isinstance(node, Sequence) or not 1 <= len(node.items) <= _MAX_INPUT_RANK:
            raise self.error(
                node,
                f"`input` must be one sample's shape as a list, e.g. [3, 32, 32] "
                f"(channels, height, width), got {describe(node)}",
            )
        shape = tuple(self.field("input", positive_int, item) for item in node.items)
        if prod(shape) > MAX_INT:
            raise self.error(node, f"`input` has {_too_many(shape)}")
        return shape

    def layers(self, node: Sequence, shape: Shape, batch_size: int) -> tuple[LayerSpec, ...]:
        layers: list[LayerSpec] = []
        names: dict[str, int] = {}
        counters: dict[str, int] = {}
        for index, item in enumerate(node.items):
            layer = self.layer(index, item, shape, counters, batch_size)
            if layer.name in names:
                raise self.error(
                    item,
                    f"layers.{index}: name {layer.name!r} is already used by layers.{names[layer.name]}; "
                    "names must be unique",
                )
            names[layer.name] = index
            layers.append(layer)
            shape = layer.output_shape
        return tuple(layers)

    def layer(
        self, index: int, node: Node, shape: Shape, counters: dict[str, int], batch_size: int
    ) -> LayerSpec:
        args_node: Node | None
        if isinstance(node, Scalar) and node.tag == "str":
            kind_node, args_node = node, None
        elif isinstance(node, Mapping) and len(node.items) == 1:
            ((kind_node, args_node),) = node.items.values()
        else:
            keys = ", ".join(node.items) if isinstance(node, Mapping) else ""
            found = f"a mapping with keys {keys}" if keys else describe(node)
            raise self.error(
                node,
                f"layers.{index}: a layer is `kind` or a one-key mapping `kind: {{arguments}}`, got {found}",
            )
        kind = lookup(kind_node.text)
        if kind is None or not kind.public:
            options = [k.name.lower() for k in all_kinds() if k.public]
            raise self.error(
                kind_node, f"unknown layer kind {kind_node.text!r}{_suggest(kind_node.text, options)}"
            )
        label = kind.name.lower()
        if args_node is not None and not (
            isinstance(args_node, Mapping) or (isinstance(args_node, Scalar) and args_node.tag == "null")
        ):
            raise self.error(
                args_node,
                f"the arguments of {label} must be a mapping such as {{name: value}}, "
                f"got {describe(args_node)}",
            )
        values: dict[str, Any] = {}
        name: str | None = None
        schema = {f.name: f for f in fields(kind.Args)}
        if isinstance(args_node, Mapping):
            for key, (key_node, value_node) in args_node.items.items():
                if key == "name":
                    name = self.field(f"{label} name", string, value_node)
                elif key in _INFERRED:
                    raise self.error(key_node, f"{key} is inferred from the previous layer; remove it")
                elif key in schema:
                    values[key] = self.field(f"{label} {key}", schema[key].metadata["coerce"], value_node)
                else:
                    options = [*schema, "name"]
                    hint = _suggest(key, options) or (
                        f"; {label} takes {', '.join(options)}" if schema else f"; {label} takes only name"
                    )
                    raise self.error(key_node, f"unknown argument {key!r} for {label}{hint}")
        missing = [f for f in schema if f not in values and schema[f].default is MISSING]
        if missing:
            raise self.error(node, f"layers.{index} {label} needs {', '.join(missing)}")
        args = kind.Args(**values)
        try:
            output_shape = kind.output_shape(args, shape)
            # Here, not after every layer is read, so that the first layer torch refuses is the one named.
            kind.check_batch(args, shape, batch_size)
        except ShapeError as exc:
            raise self.error(node, f"layers.{index} {label}: {exc}") from exc
        if prod(output_shape) > MAX_INT:
            raise self.error(node, f"layers.{index} {label}: its output has {_too_many(output_shape)}")
        counters[label] = counters.get(label, 0) + 1
        if name is None:
            name = f"{label}_{counters[label]}"
        return LayerSpec(index, kind.name, name, args, shape, output_shape, node.line, node.column)


def parse_nodes(root: Node, path: str, default_name: str, batch_size: int | None = None) -> ModelSpec:
    """Validate a spec already loaded as located nodes (for tools that edit the tree first).

    `batch_size` replaces the spec's own (a command's --batch-size)."""
    return _Parser(path, batch_size).spec(root, default_name)


def parse_spec(data: bytes, path: str, default_name: str, batch_size: int | None = None) -> ModelSpec:
    """Parse and fully validate a spec; raise SpecError naming file, line and column.

    `batch_size` replaces the spec's own (a command's --batch-size)."""
    return parse_nodes(load_nodes(data, path), path, default_name, batch_size)

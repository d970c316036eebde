"""A spec's `layers` to nodes: its layers and blocks expanded, each node with a stable path, the
nodes it reads and its shapes, checked as it is read; every error names the file, line and column.

The document around the layers (name, inputs, batch, outputs, budgets) is convprof.graph.parse's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, fields, replace
from typing import Any

from convprof.errors import SpecError
from convprof.graph.advice import explain_merge, suggest, suggest_kind, too_many_elements
from convprof.kinds import LayerKind, ShapeError, lookup
from convprof.safetext import control_character
from convprof.spec import MAX_NAME_CHARS, MAX_NODES, ModelSpec, NodeSpec, Shape, prod
from convprof.spec.args import MAX_INT, boolean, choice, describe, integer, positive_int, string
from convprof.spec.yamledit import edit
from convprof.spec.yamlnode import Mapping, Node, Scalar, Sequence
from convprof.units import clip

__all__ = ["BLOCKS", "FROZEN", "INPUT_REFERENCE", "ROOT_REFERENCE", "LayerReader", "SpecReader", "WidthRule"]

#: Torch arguments convprof infers from the previous layer, by the kind field they would feed.
_INFERRED = ("in_channels", "in_features", "num_features", "num_channels")
#: What `from` calls the network's input.
INPUT_REFERENCE = "input"
#: What a `from` name starts with to be read as a path from the top.
ROOT_REFERENCE = "/"

#: Block forms and the keys each takes (the first ones listed are required).
BLOCKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "group": (("name", "layers"), ("frozen",)),
    "repeat": (("times", "layers"), ("name", "first", "frozen")),
    "residual": (("body",), ("name", "shortcut", "merge", "after", "frozen")),
    "branches": (("paths",), ("name", "merge", "dim", "after", "frozen")),
    "gate": (("body",), ("name", "frozen")),
}
#: The key that freezes a layer's parameters, or every layer's in a block (requires_grad=False).
FROZEN = "frozen"
_MERGES = {"add": "Add", "mul": "Mul", "cat": "Cat"}


@dataclass(frozen=True, slots=True)
class WidthRule:
    """Scales every layer's width as it is parsed (`convprof sweep --width`), located by path."""

    multiplier: float
    """Factor on conv channels and hidden linear features."""
    old_inputs: dict[str, Shape]
    """Each node's first input shape in the unscaled spec, by path."""
    keep: str | None
    """Path of the classifier (the last node of a classifier kind), kept as written."""

    @staticmethod
    def of(spec: ModelSpec, multiplier: float) -> WidthRule:
        """Return the rule that scales `spec` by `multiplier`."""
        keep = None
        for node in spec.nodes:
            kind = lookup(node.kind)
            if kind is not None and kind.is_classifier(node.args):
                keep = node.path
        return WidthRule(multiplier, {node.path: node.input_shapes[0] for node in spec.nodes}, keep)


@dataclass
class _Scope:
    """Where nodes being parsed are named: a path prefix and its counters of generated names."""

    prefix: str
    """Path prefix with its trailing dot, or empty at the top."""
    counters: dict[str, int]
    """Kind label -> names generated so far in this scope."""


class SpecReader:
    """Reads located spec nodes of one file, naming the field, file, line and column of what is wrong."""

    def __init__(self, path: str) -> None:
        self.path = path
        """The spec's file, as messages name it."""

    def field(self, label: str, coerce: Callable[[Node, str], Any], node: Node) -> Any:
        """Coerce `node`, naming the field in the message when it is wrong."""
        try:
            return coerce(node, self.path)
        except SpecError as exc:
            raise SpecError(f"{label}: {exc.message}", exc.path, exc.line, exc.column) from None

    def error(self, node: Node, message: str) -> SpecError:
        return SpecError(message, self.path, node.line, node.column)

    def identifier(self, node: Node, label: str) -> str:
        """Read a name (of the spec, a block, a layer): a string without control or format characters,
        which would reach terminals, tables and file names."""
        text: str = self.field(label, string, node)
        if len(text) > MAX_NAME_CHARS:
            raise self.error(
                node, f"{label}: {len(text):,} characters; a name has at most {MAX_NAME_CHARS:,}"
            )
        bad = control_character(text)
        if bad is not None:
            raise self.error(
                node,
                f"{label}: {clip(text)} holds {bad}, a control or format character; a name is an "
                "identifier: use printable characters only",
            )
        return text


class LayerReader(SpecReader):
    """Reads a spec's `layers` into nodes, given what its inputs are called and their shapes."""

    def __init__(
        self,
        path: str,
        width: WidthRule | None,
        batch_size: int,
        input_names: dict[str, int],
        input_shapes: dict[int, Shape],
    ) -> None:
        super().__init__(path)
        self.width = width
        self.batch_size = batch_size
        """The batch that will run: nodes are checked at it as they are read (`--batch-size`)."""
        self.input_names = input_names
        """What `from` calls each input, and the index nodes read it by."""
        self.nodes: list[NodeSpec] = []
        self.paths: dict[str, int] = {}
        """Each node's path -> its index."""
        self.scopes: list[_Scope] = [_Scope("", {})]
        self.shapes: dict[int, Shape] = dict(input_shapes)
        """Each input's and node's shape, by the index nodes read it by."""
        self.at: list[str] = []
        """Dotted path of the item being parsed in the spec's tree, as `--set` takes it."""
        self.frozen: list[bool] = [False]
        """Whether the blocks being parsed freeze their layers, innermost last."""

    # -- lists of layers and blocks ---------------------------------------------------------------

    @property
    def location(self) -> str:
        return ".".join(self.at)

    def sequence(self, node: Node, current: int, label: str, key: str, *, empty: bool = False) -> int:
        """Parse the list of layers and blocks at `key`, reading `current`; return the node ending it."""
        self.at.append(key)
        if not isinstance(node, Sequence) or (not node.items and not empty):
            found = "an empty list" if isinstance(node, Sequence) else describe(node)
            raise self.error(
                node, f"{self.location}: {label} must be a non-empty list of layers, got {found}"
            )
        for position, item in enumerate(node.items):
            self.at.append(str(position))
            current = self.item(item, current)
            self.at.pop()
        self.at.pop()
        return current

    def item(self, node: Node, current: int) -> int:
        if isinstance(node, Mapping) and len(node.items) == 1:
            ((key, (key_node, value)),) = node.items.items()
            if key.lower() in BLOCKS:
                self.at.append(key)
                end = self.block(key.lower(), key_node, value, node, current)
                self.at.pop()
                return end
        return self.layer(node, current)

    @contextmanager
    def scope(self, name: str | None, where: Node) -> Iterator[None]:
        """Parse nodes under `name` (a path prefix), or in the current scope when it is None.

        A block may take a name used before: it continues that scope, as a torch module called again
        after another runs its children under its own name (`up_samples.0`, an add, then
        `up_samples.1`); and a block may share a layer's path, as a module holding its own weights
        and children does (timm's BatchNormAct2d: `bn1`, then `bn1.act`). Layer paths stay unique."""
        if name is None:
            yield
            return
        prefix = self.scopes[-1].prefix + name
        self.scopes.append(_Scope(prefix + ".", {}))
        try:
            yield
        finally:
            self.scopes.pop()

    def name(self, node: Node, label: str) -> str:
        text = self.identifier(node, label)
        if not text or "." in text:
            raise self.error(
                node, f"{label}: {clip(text)} is not a name; use letters, digits and _ without dots"
            )
        if text == INPUT_REFERENCE or text in self.input_names:
            raise self.error(node, f"{label}: {clip(text)} names the network's input; choose another name")
        return text

    def block(self, word: str, key_node: Node, value: Node, node: Node, current: int) -> int:
        required, optional = BLOCKS[word]
        if not isinstance(value, Mapping):
            raise self.error(
                value, f"a {word} block is a mapping with {', '.join(required)}, got {describe(value)}"
            )
        allowed = (*required, *optional)
        for key, (k, _) in value.items.items():
            if key not in allowed:
                hint = suggest(key, list(allowed)) or f"; {word} takes {', '.join(allowed)}"
                raise self.error(k, f"unknown key {clip(key)} in a {word} block{hint}")
        missing = [key for key in required if key not in value.items]
        if missing:
            raise self.error(key_node, f"a {word} block needs {', '.join(missing)}")

        def get(key: str) -> Node | None:
            item = value.items.get(key)
            return item[1] if item else None

        name_node = get("name")
        name = self.name(name_node, f"{word} name") if name_node is not None else None
        frozen_node = get(FROZEN)
        frozen = self.field(f"{word} {FROZEN}", boolean, frozen_node) if frozen_node else self.frozen[-1]
        self.frozen.append(frozen)
        try:
            return self.block_body(word, key_node, value, get, name, current)
        finally:
            self.frozen.pop()

    def block_body(
        self,
        word: str,
        key_node: Node,
        value: Mapping,
        get: Callable[[str], Node | None],
        name: str | None,
        current: int,
    ) -> int:
        with self.scope(name, key_node):
            if word == "group":
                layers = get("layers")
                assert layers is not None
                return self.sequence(layers, current, "a group's `layers`", "layers")
            if word == "repeat":
                return self.repeat(value, get, current, name is not None)
            if word == "residual":
                return self.residual(key_node, get, current)
            if word == "branches":
                return self.branches(key_node, get, current)
            body = get("body")
            assert body is not None
            gate = self.sequence(body, current, "a gate's `body`", "body")
            return self.merge("Mul", (current, gate), key_node, None)

    def repeat(self, value: Mapping, get: Callable[[str], Node | None], current: int, named: bool) -> int:
        times_node, layers = get("times"), get("layers")
        assert times_node is not None
        assert layers is not None
        times = self.field("repeat times", positive_int, times_node)
        if times > MAX_NODES:
            raise self.error(
                times_node,
                f"repeat times: {times:,} copies is more than the {MAX_NODES:,} nodes a spec may have",
            )
        first = get("first")
        changed = self.changed(layers, first) if first is not None else layers
        for copy in range(times):
            source = changed if copy == 0 else layers
            if named:
                with self.scope(str(copy), source):
                    current = self.sequence(source, current, "a repeat's `layers`", "layers")
            else:
                current = self.sequence(source, current, "a repeat's `layers`", "layers")
        return current

    def changed(self, layers: Node, first: Node) -> Node:
        """Return the repeat's `layers` with `first`'s changes (dotted path: value) written in."""
        if not isinstance(first, Mapping):
            raise self.error(
                first,
                "a repeat's `first` maps dotted paths into its `layers` to values, e.g. "
                f"{{0.conv2d.stride: 2}}; got {describe(first)}",
            )
        for key, (key_node, new) in first.items.items():
            path = tuple(key.split("."))
            if any(not part for part in path):
                raise self.error(
                    key_node, f"repeat first: {clip(key)} has an empty segment; write it as 0.conv2d.stride"
                )

            def fail(message: str, key_node: Node = key_node) -> SpecError:
                return self.error(key_node, f"repeat first: {message}")

            layers = edit(layers, path, new, fail, ("layers",), keep_position=True)
        return layers

    def residual(self, key_node: Node, get: Callable[[str], Node | None], current: int) -> int:
        body = get("body")
        assert body is not None
        first_body = len(self.nodes)
        out = self.sequence(body, current, "a residual's `body`", "body")
        shortcut_node = get("shortcut")
        shortcut = (
            current
            if shortcut_node is None
            else self.sequence(shortcut_node, current, "a residual's `shortcut`", "shortcut", empty=True)
        )
        merge_node = get("merge")
        merge = self.field("residual merge", choice(*_MERGES), merge_node) if merge_node else "add"
        explain_merge(
            self.nodes, self.shapes, self.path, _MERGES[merge], None, (shortcut, out), first_body, "residual"
        )
        merged = self.merge(_MERGES[merge], (shortcut, out), key_node, None)
        after = get("after")
        return merged if after is None else self.sequence(after, merged, "a residual's `after`", "after")

    def branches(self, key_node: Node, get: Callable[[str], Node | None], current: int) -> int:
        paths = get("paths")
        assert paths is not None
        if not isinstance(paths, Sequence) or len(paths.items) < 2:
            raise self.error(
                paths, f"`paths` must be a list of two or more lists of layers, got {describe(paths)}"
            )
        self.at.append("paths")
        starts: list[int] = []
        ends_list: list[int] = []
        for i, path in enumerate(paths.items):
            starts.append(len(self.nodes))
            ends_list.append(self.sequence(path, current, "each of `paths`", str(i), empty=True))
        ends = tuple(ends_list)
        self.at.pop()
        merge_node, dim_node = get("merge"), get("dim")
        merge = self.field("branches merge", choice(*_MERGES), merge_node) if merge_node else "cat"
        if dim_node is not None and merge != "cat":
            raise self.error(dim_node, f"dim is for merge: cat; {merge} joins element by element")
        dim = self.field("branches dim", integer, dim_node) if dim_node is not None else None
        for i in range(1, len(ends)):
            explain_merge(
                self.nodes,
                self.shapes,
                self.path,
                _MERGES[merge],
                dim,
                (ends[0], ends[i]),
                starts[i],
                "branches",
            )
        merged = self.merge(_MERGES[merge], ends, key_node, dim)
        after = get("after")
        return (
            merged if after is None else self.sequence(after, merged, "a branches block's `after`", "after")
        )

    def merge(self, kind_name: str, inputs: tuple[int, ...], where: Node, dim: int | None) -> int:
        kind = lookup(kind_name)
        assert kind is not None, kind_name
        args = kind.Args(dim=dim) if dim is not None else kind.Args()
        return self.add_node(kind, args, inputs, where, None)

    # -- one layer --------------------------------------------------------------------------------

    def layer(self, node: Node, current: int) -> int:
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
                f"{self.location}: a layer is `kind` or a one-key mapping `kind: {{arguments}}`, got {found}",
            )
        kind = lookup(kind_node.text)
        if kind is None or not kind.public:
            rank = len(self.shapes[current]) - 1
            hint = suggest_kind(kind_node.text, rank, list(BLOCKS))
            raise self.error(kind_node, f"unknown layer kind {clip(kind_node.text)}{hint}")
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
        inputs: tuple[int, ...] = (current,)
        schema = {f.name: f for f in fields(kind.Args)}
        from_node: Node | None = None
        frozen_node: Node | None = None
        if isinstance(args_node, Mapping):
            for key, (key_node, value_node) in args_node.items.items():
                if key == "name":
                    name = self.name(value_node, f"{label} name")
                elif key == FROZEN:
                    frozen_node = value_node
                elif key == "from":
                    from_node = value_node
                    inputs = self.references(value_node, label)
                elif key in _INFERRED:
                    raise self.error(key_node, f"{key} is inferred from the previous layer; remove it")
                elif key in schema:
                    values[key] = self.field(f"{label} {key}", schema[key].metadata["coerce"], value_node)
                else:
                    options = [*schema, "name", "from", FROZEN]
                    hint = suggest(key, options) or (
                        f"; {label} takes {', '.join(options)}"
                        if schema
                        else f"; {label} takes only name, from and {FROZEN}"
                    )
                    raise self.error(key_node, f"unknown argument {clip(key)} for {label}{hint}")
        lowest, highest = kind.arity
        if not lowest <= len(inputs) <= (highest if highest is not None else len(inputs)):
            count = f"{lowest}" if lowest == highest else f"{lowest} or more"
            where = from_node if from_node is not None else node
            raise self.error(
                where,
                f"{self.location} {label} reads {count} tensors, got {len(inputs)}; "
                "list them in `from: [...]`",
            )
        missing = [f for f in schema if f not in values and schema[f].default is MISSING]
        if missing:
            raise self.error(node, f"{self.location} {label} needs {', '.join(missing)}")
        frozen = self.field(f"{label} {FROZEN}", boolean, frozen_node) if frozen_node else self.frozen[-1]
        index = self.add_node(kind, kind.Args(**values), inputs, node, name)
        added = self.nodes[index]
        if frozen and not kind.node_param_tensors(added.args, added.input_shapes, added.output_shape):
            if frozen_node is not None and self.field(f"{label} {FROZEN}", boolean, frozen_node):
                raise self.error(
                    frozen_node,
                    f"{self.where(added.path)} {label} has no parameters to freeze; "
                    f"{FROZEN}: true is for a layer with parameters (or a block of layers)",
                )
            frozen = False  # a block freezes the layers that have parameters
        if frozen:
            self.nodes[index] = replace(added, frozen=True)
        return index

    def references(self, node: Node, label: str) -> tuple[int, ...]:
        """Resolve `from`: a name or a list of names of earlier nodes (or `input`)."""
        items = node.items if isinstance(node, Sequence) else (node,)
        if not items:
            raise self.error(node, f"{label} from: name at least one earlier layer")
        return tuple(self.reference(item, label) for item in items)

    def reference(self, node: Node, label: str) -> int:
        text = self.field(f"{label} from", string, node)
        if text in self.input_names:
            return self.input_names[text]
        # Innermost scope first, so a repeated block's layers can name each other relatively.
        for scope in reversed(self.scopes):
            index = self.paths.get(scope.prefix + text)
            if index is not None:
                return index
        # `/path` is the path from the top, past a nearer layer of the same name (imported specs).
        if text.startswith(ROOT_REFERENCE) and text[1:] in self.paths:
            return self.paths[text[1:]]
        inside = sorted(path for path in self.paths if path.rsplit(".", 1)[-1] == text)
        if inside:  # its name, but inside a block this one is not in: say how to reach it
            shown = " or ".join(clip(path) for path in inside[:2]) + (" or others" if len(inside) > 2 else "")
            raise self.error(
                node,
                f"{label} from: {clip(text)} is a layer inside another block ({shown}); a layer outside "
                "its block names it by its path from the top, e.g. from: /" + inside[0],
            )
        hint = suggest(text, list(self.paths))
        if not hint:
            names = {path.rsplit(".", 1)[-1] for path in self.paths}
            hint = suggest(text, sorted(names))
        raise self.error(
            node,
            f"{label} from: no earlier layer is called {clip(text)}{hint}; a layer reads layers written "
            "before it (or `input`), by name or by path",
        )

    def where(self, path: str) -> str:
        """Name a node for messages: its place in the spec, and its path where blocks made one."""
        return self.location if "." not in path else f"{self.location} ({path})"

    def add_node(
        self, kind: LayerKind, args: Any, inputs: tuple[int, ...], where: Node, name: str | None
    ) -> int:
        index = len(self.nodes)
        if index >= MAX_NODES:
            raise self.error(
                where, f"the spec expands to more than {MAX_NODES:,} layers; write a smaller network"
            )
        scope = self.scopes[-1]
        label = kind.name.lower()
        if name is None:
            count = scope.counters.get(label, 0) + 1
            while f"{scope.prefix}{label}_{count}" in self.paths:  # a layer named like a generated one
                count += 1
            scope.counters[label] = count
            name = f"{label}_{count}"
        path = scope.prefix + name
        if path in self.paths:
            raise self.error(
                where,
                f"{self.location}: name {clip(name)} is already used by "
                f"{self.nodes[self.paths[path]].location}; names must be unique",
            )
        shapes = tuple(self.shapes[i] for i in inputs)
        if self.width is not None and path != self.width.keep and path in self.width.old_inputs:
            args = kind.scale_width(args, self.width.old_inputs[path], shapes[0], self.width.multiplier)
        try:
            output = kind.node_output_shape(args, shapes)
            # Here, not after every node is read, so that the first node torch refuses is the one named.
            kind.node_check_batch(args, shapes, self.batch_size)
        except ShapeError as exc:
            raise self.error(where, f"{self.where(path)} {label}: {exc}") from exc
        if prod(output) > MAX_INT:
            raise self.error(where, f"{self.where(path)} {label}: its output has {too_many_elements(output)}")
        self.nodes.append(
            NodeSpec(
                index, kind.name, path, args, inputs, shapes, output, self.location, where.line, where.column
            )
        )
        self.paths[path] = index
        self.shapes[index] = output
        return index

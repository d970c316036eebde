"""Write imported nodes as a readable spec: groups where the module tree has them, `from` where needed."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import MISSING, fields
from typing import Any, cast

import yaml

from convprof.importing.graph import ImportedNode
from convprof.spec import NETWORK_INPUT, ParameterWork, Shape, input_position

__all__ = ["write_spec"]

#: Spaces per nesting level of a group.
_INDENT = 6
#: What `from` calls the network's input.
_INPUT = "input"


def _listed(value: Any) -> Any:
    """Return `value` with every tuple in it a list, as YAML writes it."""
    return [_listed(item) for item in value] if isinstance(value, tuple | list) else value


#: A string YAML reads back as that string when written bare: a name, not a word YAML 1.1 reads
#: as a boolean or null.
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _plain(value: Any) -> str | None:
    """Return how YAML writes an int, a bool, None, a plain name or a list of them, as safe_dump
    does (it takes most of the time of writing a spec); None for anything else."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value if _PLAIN.match(value) and value.lower() not in _WORDS else None
    if isinstance(value, list):
        items = [_plain(item) for item in value]
        if all(item is not None for item in items):
            return f"[{', '.join(items)}]"  # type: ignore[arg-type]
    return None


def _value(value: Any, verbatim: bool = False) -> str:
    """Return a YAML flow scalar or list for an argument; a pair of equal sizes as one number unless
    `verbatim` (a shape is a list whatever its sizes)."""
    if verbatim:
        value = _listed(value)
    elif isinstance(value, tuple):
        value = value[0] if len(set(value)) == 1 and value[0] is not None else list(value)
    plain = _plain(value)
    if plain is not None:
        return plain
    if isinstance(value, list):
        return yaml.safe_dump(value, default_flow_style=True, width=2**31).strip()
    # Dumped in a flow list, as it is written (in `{...}`): a string with a comma is quoted there.
    text: str = yaml.safe_dump([value], default_flow_style=True, width=2**31).strip()
    return text[1:-1]


def _arguments(node: ImportedNode) -> list[str]:
    """Return `key: value` for each argument that differs from its default (torch's)."""
    items = []
    assert node.kind is not None  # an import with ops no kind reads fails before it is written
    for item in fields(node.kind.Args):
        value = getattr(node.args, item.name)
        if item.default is MISSING or value != item.default or type(value) is not type(item.default):
            items.append(f"{item.name}: {_value(value, item.metadata.get('verbatim', False))}")
    return items


#: What a frozen layer (or a group of them) says in a spec.
_FROZEN = "frozen: true"


def _frozen_scopes(
    nodes: Sequence[ImportedNode], frozen: Collection[str], learned: Collection[str]
) -> set[str]:
    """Return the groups all of whose layers with parameters are frozen: each says `frozen: true` once
    instead of its layers."""
    scopes: dict[str, bool] = {}
    for node in nodes:
        if node.path not in learned and node.path not in frozen:
            continue  # no parameters: frozen or not, nothing changes
        parts = node.path.split(".")
        for end in range(1, len(parts)):
            scope = ".".join(parts[:end])
            scopes[scope] = scopes.get(scope, True) and node.path in frozen
    return {scope for scope, all_frozen in scopes.items() if all_frozen}


class _Writer:
    def __init__(
        self,
        nodes: Sequence[ImportedNode],
        inputs: Sequence[str],
        frozen: Collection[str] = (),
        learned: Collection[str] = (),
    ) -> None:
        self.nodes = nodes
        self.inputs = inputs
        self.lines: list[str] = []
        self.seen: set[str] = set()
        self.frozen = frozenset(frozen)
        """Paths of the nodes whose parameters are frozen (requires_grad=False)."""
        self.frozen_scopes = _frozen_scopes(nodes, self.frozen, learned)

    def reference(self, target: int, scopes: list[str]) -> str:
        """Return the shortest name by which the parser finds node `target` from inside `scopes`."""
        if target < 0:
            return self.inputs[input_position(target)]
        path = self.nodes[target].path
        prefixes = ["", *(f"{scope}." for scope in scopes)]
        for depth in range(len(prefixes) - 1, -1, -1):
            prefix = prefixes[depth]
            if not path.startswith(prefix):
                continue
            text = path[len(prefix) :]
            # The parser looks innermost first: a deeper scope with a node of that name would win.
            if not any(inner + text in self.seen for inner in prefixes[depth + 1 :]):
                return text
        return f"/{path}"  # a nearer layer has its name: the path from the top

    def write(self) -> list[str]:
        open_scopes: list[str] = []
        for index, node in enumerate(self.nodes):
            parts = node.path.split(".")
            scopes = [".".join(parts[: i + 1]) for i in range(len(parts) - 1)]
            common = 0
            while common < min(len(scopes), len(open_scopes)) and scopes[common] == open_scopes[common]:
                common += 1
            del open_scopes[common:]
            for scope in scopes[common:]:
                pad = " " * (2 + _INDENT * len(open_scopes))
                name = _value(scope.rsplit(".", 1)[-1])
                self.lines += [f"{pad}- group:", f"{pad}    name: {name}"]
                if scope in self.frozen_scopes and not any(s in self.frozen_scopes for s in open_scopes):
                    self.lines.append(f"{pad}    {_FROZEN}")
                self.lines.append(f"{pad}    layers:")
                open_scopes.append(scope)
            items = [f"name: {_value(parts[-1])}"]
            previous = index - 1 if index else NETWORK_INPUT
            if node.inputs != (previous,):
                names = [_value(self.reference(i, open_scopes)) for i in node.inputs]
                items.append(f"from: {names[0]}" if len(names) == 1 else f"from: [{', '.join(names)}]")
            items += _arguments(node)
            if node.path in self.frozen and not any(s in self.frozen_scopes for s in open_scopes):
                items.append(_FROZEN)
            pad = " " * (2 + _INDENT * len(open_scopes))
            assert node.kind is not None
            self.lines.append(f"{pad}- {node.kind.name.lower()}: {{{', '.join(items)}}}")
            self.seen.add(node.path)
        return self.lines


def _work(entries: Sequence[ParameterWork]) -> list[str]:
    """Return the `parameter_work` section: one line per layer whose parameters are computed."""
    if not entries:
        return []
    lines = ["parameter_work:"]
    for entry in entries:
        items = [f"for: {_value(entry.path)}", f"ops: {_value(list(entry.ops))}", f"values: {entry.values}"]
        if entry.params:
            shapes = ", ".join(f"{_value(name)}: {_value(list(shape))}" for name, shape in entry.params)
            items.append(f"params: {{{shapes}}}")
        lines.append(f"  - {{{', '.join(items)}}}")
    return lines


def _inputs(inputs: Sequence[tuple[str, Shape]]) -> list[str]:
    """Return `input: [...]` for one input, `inputs:` by name for several."""
    if len(inputs) == 1:
        return [f"input: {_value(list(inputs[0][1]))}"]
    return ["inputs:", *(f"  {_value(name)}: {_value(list(shape))}" for name, shape in inputs)]


def _outputs(nodes: Sequence[ImportedNode], outputs: Sequence[tuple[str, int]]) -> list[str]:
    """Return `outputs:` naming each output's layer by its path, where there are several."""
    if not outputs:
        return []
    return ["outputs:", *(f"  {_value(name)}: {_value(nodes[index].path)}" for name, index in outputs)]


def write_spec(
    name: str,
    description: str,
    inputs: Shape | Sequence[tuple[str, Shape]],
    nodes: Sequence[ImportedNode],
    header: Sequence[str],
    work: Sequence[ParameterWork] = (),
    outputs: Sequence[tuple[str, int]] = (),
    *,
    frozen: Collection[str] = (),
    learned: Collection[str] = (),
) -> str:
    """Return the spec text of `nodes`: `header` as comments, then name, description, inputs (one
    shape, or several by name), layers, named outputs where there are several, and the parameter
    work on the layers' parameters.

    The nodes at the paths in `frozen` have frozen parameters (requires_grad=False), those in `learned`
    trainable ones: a group whose layers with parameters are all frozen says so once."""
    if all(isinstance(size, int) for size in inputs):
        named: Sequence[tuple[str, Shape]] = ((_INPUT, cast("Shape", tuple(inputs))),)
    else:
        named = cast("Sequence[tuple[str, Shape]]", inputs)
    comments = [f"# {line}".rstrip() for text in header for line in text.splitlines()]
    body = [
        f"name: {_value(name)}",
        f"description: {_value(description)}",
        *_inputs(named),
        "layers:",
        *_Writer(nodes, [input_name for input_name, _ in named], frozen, learned).write(),
        *_outputs(nodes, outputs),
        *_work(work),
    ]
    return "\n".join([*comments, *body]) + "\n"

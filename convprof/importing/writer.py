"""Write imported nodes as a readable spec: groups where the module tree has them, `from` where needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, fields
from typing import Any

import yaml

from convprof.importing.tracing import ImportedNode
from convprof.spec import NETWORK_INPUT, Shape

__all__ = ["write_spec"]

#: Spaces per nesting level of a group.
_INDENT = 6
#: What `from` calls the network's input.
_INPUT = "input"


def _listed(value: Any) -> Any:
    """Return `value` with every tuple in it a list, as YAML writes it."""
    return [_listed(item) for item in value] if isinstance(value, tuple | list) else value


def _value(value: Any, verbatim: bool = False) -> str:
    """Return a YAML flow scalar or list for an argument; a pair of equal sizes as one number unless
    `verbatim` (a shape is a list whatever its sizes)."""
    if verbatim:
        value = _listed(value)
    elif isinstance(value, tuple):
        value = value[0] if len(set(value)) == 1 and value[0] is not None else list(value)
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


class _Writer:
    def __init__(self, nodes: Sequence[ImportedNode]) -> None:
        self.nodes = nodes
        self.lines: list[str] = []
        self.seen: set[str] = set()

    def reference(self, target: int, scopes: list[str]) -> str:
        """Return the shortest name by which the parser finds node `target` from inside `scopes`."""
        if target == NETWORK_INPUT:
            return _INPUT
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
                self.lines += [f"{pad}- group:", f"{pad}    name: {name}", f"{pad}    layers:"]
                open_scopes.append(scope)
            items = [f"name: {_value(parts[-1])}"]
            previous = index - 1 if index else NETWORK_INPUT
            if node.inputs != (previous,):
                names = [_value(self.reference(i, open_scopes)) for i in node.inputs]
                items.append(f"from: {names[0]}" if len(names) == 1 else f"from: [{', '.join(names)}]")
            items += _arguments(node)
            pad = " " * (2 + _INDENT * len(open_scopes))
            assert node.kind is not None
            self.lines.append(f"{pad}- {node.kind.name.lower()}: {{{', '.join(items)}}}")
            self.seen.add(node.path)
        return self.lines


def write_spec(
    name: str, description: str, input_shape: Shape, nodes: Sequence[ImportedNode], header: Sequence[str]
) -> str:
    """Return the spec text of `nodes`: `header` as comments, then name, description, input, layers."""
    comments = [f"# {line}".rstrip() for text in header for line in text.splitlines()]
    body = [
        f"name: {_value(name)}",
        f"description: {_value(description)}",
        f"input: {_value(list(input_shape))}",
        "layers:",
        *_Writer(nodes).write(),
    ]
    return "\n".join([*comments, *body]) + "\n"

"""A spec's `parameter_work`: arithmetic on a layer's parameters alone, once per step (imported models)."""

from __future__ import annotations

import re

from convprof.errors import SpecError
from convprof.spec import ParameterWork, prod
from convprof.spec.args import MAX_INT, describe, nonneg_int, shape, string
from convprof.spec.yamlnode import Mapping, Node, Sequence
from convprof.units import clip

__all__ = ["parse_parameter_work"]

#: What an entry takes; `for` and `values` are required.
_KEYS = ("for", "ops", "values", "params")
#: Longest op name an entry takes.
_MAX_OP = 200
#: A parameter's name: a Python identifier, as torch registers it on a module.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _error(node: Node, message: str, path: str) -> SpecError:
    return SpecError(f"parameter_work: {message}", path, node.line, node.column)


def _ops(node: Node, path: str) -> tuple[str, ...]:
    if not isinstance(node, Sequence):
        raise _error(node, f"ops is a list of op names, got {describe(node)}", path)
    ops = []
    for item in node.items:
        text = string(item, path)
        if not text.strip() or len(text) > _MAX_OP or not text.isprintable():
            raise _error(item, f"expected an op's name such as Tensor.reshape, got {clip(text)}", path)
        ops.append(text)
    return tuple(ops)


def _params(node: Node, path: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    if not isinstance(node, Mapping):
        raise _error(
            node,
            f"params maps parameter names to shapes, such as {{gain: [64, 1]}}, got {describe(node)}",
            path,
        )
    params = []
    for name, (key, value) in node.items.items():
        if not _NAME.match(name):
            raise _error(key, f"{clip(name)} is not a parameter's name (letters, digits and _)", path)
        size = shape(value, path)
        if prod(size) > MAX_INT:
            raise _error(value, f"params {name} has more elements than torch can index", path)
        params.append((name, size))
    return tuple(params)


def parse_parameter_work(node: Node, path: str, paths: dict[str, int]) -> tuple[ParameterWork, ...]:
    """Return the entries of `parameter_work`, each naming the path of a layer in `paths`."""
    if not isinstance(node, Sequence):
        raise _error(node, f"a list of entries such as {{for: conv, values: 64}}, got {describe(node)}", path)
    entries: dict[str, ParameterWork] = {}
    for item in node.items:
        if not isinstance(item, Mapping):
            raise _error(
                item, f"an entry is a mapping such as {{for: conv, values: 64}}, got {describe(item)}", path
            )
        for key, (key_node, _) in item.items.items():
            if key not in _KEYS:
                raise _error(key_node, f"unknown key {key!r}; an entry takes {', '.join(_KEYS)}", path)
        for required in ("for", "values"):
            if required not in item.items:
                raise _error(item, f"an entry needs `{required}`", path)
        target_node = item.items["for"][1]
        target = string(target_node, path)
        if target not in paths:
            raise _error(target_node, f"no layer has the path {clip(target)}", path)
        if target in entries:
            raise _error(target_node, f"{clip(target)} has two entries; give one per layer", path)
        values = nonneg_int(item.items["values"][1], path)
        ops = _ops(item.items["ops"][1], path) if "ops" in item.items else ()
        params = _params(item.items["params"][1], path) if "params" in item.items else ()
        entries[target] = ParameterWork(target, ops, values, params)
    return tuple(entries.values())

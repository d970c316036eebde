"""Edit a tree of located YAML nodes by dotted path (sweep points, a repeat's per-copy changes)."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import replace

from convprof.errors import ConvprofError
from convprof.spec.args import describe
from convprof.spec.yamlnode import Mapping, Node, Scalar, load_nodes
from convprof.spec.yamlnode import Sequence as SeqNode
from convprof.units import clip

__all__ = ["edit", "relocate", "scalar"]

#: An index into a list in a dotted path: ASCII digits, a minus sign to count from the end.
_INDEX = re.compile(r"-?[0-9]+")
#: Makes the error an edit reports: the sweep's is a usage error, a spec's own edits are spec errors.
Fail = Callable[[str], ConvprofError]


def scalar(text: str, line: int = 0, column: int = 0) -> Scalar:
    """Return a scalar as the YAML loader reads `text`, placed at `line` and `column`."""
    node = load_nodes(text.encode("utf-8"), "<value>")
    assert isinstance(node, Scalar), text
    return replace(node, line=line, column=column)


def relocate(node: Node, line: int, column: int) -> Node:
    """Place a node written elsewhere (a command line, a repeat's change) at the position it replaces."""
    if isinstance(node, Scalar):
        return replace(node, line=line, column=column)
    if isinstance(node, SeqNode):
        return SeqNode(tuple(relocate(item, line, column) for item in node.items), line, column)
    items = {
        key: (replace(k, line=line, column=column), relocate(v, line, column))
        for key, (k, v) in node.items.items()
    }
    return Mapping(items, line, column)


def edit(
    node: Node,
    path: tuple[str, ...],
    new: Node,
    fail: Fail,
    walked: tuple[str, ...] = (),
    *,
    keep_position: bool = False,
) -> Node:
    """Return `node` with `new` written at `path`; a missing last key is added for the parser to judge.

    `new` takes the position of what it replaces (for messages) unless `keep_position` is set, for a
    value written in the spec itself, whose own line and column are the better place to point at.
    """
    if not path:
        return new if keep_position else relocate(new, node.line, node.column)
    head, rest = path[0], path[1:]
    where = ".".join(walked) or "the spec"
    if isinstance(node, Scalar) and node.tag == "null":
        node = Mapping({}, node.line, node.column)  # `conv2d:` with no arguments
    elif isinstance(node, Scalar) and node.tag == "str" and node.text.lower() == head.lower() and rest:
        # A layer written as a bare kind (`- relu`) gets an argument mapping.
        key = replace(node)
        node = Mapping({node.text: (key, scalar("null", node.line, node.column))}, node.line, node.column)
    if isinstance(node, Mapping):
        match = (
            head if head in node.items else next((k for k in node.items if k.lower() == head.lower()), None)
        )
        items = dict(node.items)
        if match is not None:
            key_node, child = items[match]
            items[match] = (
                key_node,
                edit(child, rest, new, fail, (*walked, match), keep_position=keep_position),
            )
        elif not rest:
            key_node = scalar(json.dumps(head), node.line, node.column)
            items[head] = (key_node, new if keep_position else relocate(new, node.line, node.column))
        else:
            close = difflib.get_close_matches(head, list(node.items), n=1)
            hint = f"did you mean {close[0]}?" if close else f"it has {', '.join(node.items) or 'no keys'}"
            raise fail(f"{where} has no {clip(head)} ({hint}); fix the path")
        return Mapping(items, node.line, node.column)
    if isinstance(node, SeqNode):
        count = len(node.items)
        if not _INDEX.fullmatch(head):  # not int(): it reads `0_0` and other scripts' digits as numbers
            raise fail(
                f"{where} is a list, so {clip(head)} must be an index from 0 to {count - 1}; fix the path"
            )
        index = int(head)
        if not -count <= index < count:
            raise fail(f"{where} has {count} items, so index {index} does not exist; use 0 to {count - 1}")
        items_list = list(node.items)
        items_list[index] = edit(
            items_list[index], rest, new, fail, (*walked, head), keep_position=keep_position
        )
        return SeqNode(tuple(items_list), node.line, node.column)
    raise fail(f"{where} is {describe(node)}, which has no {clip(head)}; shorten the path")

"""YAML text to located nodes: safe constructs only, duplicate keys and alias bombs refused."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from convprof.errors import SpecError
from convprof.units import clip

__all__ = ["Mapping", "Node", "Scalar", "Sequence", "load_nodes", "to_python"]

try:  # libyaml is an order of magnitude faster; the pure-Python loader is the fallback.
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

#: Nodes a document may expand to once aliases are followed; a billion-laughs bomb exceeds it at once.
MAX_EXPANDED_NODES = 2_000_000
#: Nesting a spec never needs; deeper documents are refused before recursion can exhaust the stack.
MAX_DEPTH = 64

#: Digits a number may have: far more than any size (torch's int64 has 19), far below Python's
#: 4,300-digit limit on converting text to int.
MAX_NUMBER_DIGITS = 100

#: Documents longer than this are counted node by node before being composed: a shorter one cannot
#: hold enough nodes (each takes at least two characters) to make composing it costly.
_COUNT_FIRST_CHARS = 2**20
#: Parser events that each make one node.
_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent)

_TAG = "tag:yaml.org,2002:"
#: The texts YAML 1.1 reads as null (an empty scalar among them).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


@dataclass(frozen=True, slots=True)
class Scalar:
    """A scalar with its constructed value, its source text and its position."""

    value: object
    """The value as YAML 1.1 reads it: str, int, float, bool or None."""
    text: str
    """The scalar exactly as written, for string fields that accept any plain scalar."""
    tag: str
    """The resolved tag's short name: str, int, float, bool, null, timestamp."""
    quoted: bool
    """True when written in quotes (always a string, whatever it looks like)."""
    line: int
    """1-based line of the node's start."""
    column: int
    """1-based column of the node's start."""


@dataclass(frozen=True, slots=True)
class Mapping:
    """A mapping whose keys are strings, in document order."""

    items: dict[str, tuple[Scalar, Node]]
    """Key text to (key node, value node)."""
    line: int
    """1-based line of the node's start."""
    column: int
    """1-based column of the node's start."""


@dataclass(frozen=True, slots=True)
class Sequence:
    """A sequence of nodes."""

    items: tuple[Node, ...]
    """The elements in order."""
    line: int
    """1-based line of the node's start."""
    column: int
    """1-based column of the node's start."""


Node = Scalar | Mapping | Sequence


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _expanded_size(root: yaml.Node, path: str) -> tuple[int, int]:
    """Count the nodes the document becomes once aliases are followed, and the distinct nodes it has,
    in time linear in its size."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order over the node graph (aliases share node objects)
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[key] = min(total, MAX_EXPANDED_NODES + 1)
            visiting.discard(key)
            continue
        if key in sizes:
            continue
        if key in visiting:  # reached again from its own descendants
            line, column = _mark(node)
            raise SpecError("recursive alias: a node contains itself; remove the alias", path, line, column)
        visiting.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)], len(sizes)


class _Converter:
    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, node: yaml.Node, message: str) -> SpecError:
        line, column = _mark(node)
        return SpecError(message, self.path, line, column)

    def convert(self, node: yaml.Node, depth: int = 0) -> Node:
        line, column = _mark(node)
        if depth > MAX_DEPTH:
            raise self.error(node, f"document is nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _TAG + "seq":
                raise self.error(node, f"unsupported YAML tag {clip(node.tag)}; only plain YAML is accepted")
            return Sequence(tuple(self.convert(child, depth + 1) for child in node.value), line, column)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _TAG + "map":
                raise self.error(node, f"unsupported YAML tag {clip(node.tag)}; only plain YAML is accepted")
            items: dict[str, tuple[Scalar, Node]] = {}
            for key_node, value_node in self.merged_pairs(node, depth):
                key = self.convert(key_node, depth + 1)
                if not isinstance(key, Scalar) or key.tag != "str":
                    raise self.error(key_node, "mapping keys must be plain strings")
                if key.text in items:
                    first = items[key.text][0]
                    raise self.error(
                        key_node,
                        f"duplicate key {clip(key.text)} (first given at line {first.line}); keep one",
                    )
                items[key.text] = (key, self.convert(value_node, depth + 1))
            return Mapping(items, line, column)
        raise self.error(node, "unsupported YAML node")  # pragma: no cover - yaml has three kinds

    def merged_pairs(self, node: yaml.MappingNode, depth: int = 0) -> list[tuple[yaml.Node, yaml.Node]]:
        """Apply YAML merge keys (`<<: *anchor`); explicit keys win over merged ones."""
        if depth > MAX_DEPTH:  # a chain of merges nests like mappings do, and recursion must stay bounded
            raise self.error(node, f"merge keys (<<) are chained deeper than {MAX_DEPTH} levels")
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        explicit: list[tuple[yaml.Node, yaml.Node]] = []
        for key, value in node.value:
            if key.tag == _TAG + "merge":
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        raise self.error(source, "a merge key (<<) takes a mapping or a list of mappings")
                    merged += self.merged_pairs(source, depth + 1)
            else:
                explicit.append((key, value))
        if not merged:
            return explicit
        names = {k.value for k, _ in explicit if isinstance(k, yaml.ScalarNode)}
        result: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in merged:  # later merge sources do not override earlier ones
            if isinstance(key, yaml.ScalarNode) and key.value not in names:
                result.setdefault(key.value, (key, value))
        return explicit + list(result.values())

    def number(self, node: yaml.ScalarNode, tag: str) -> int | float:
        """Construct an int or float, refusing text its tag cannot be (`!!int abc`) or is too long for."""
        digits = sum(char.isdigit() for char in node.value)
        if digits > MAX_NUMBER_DIGITS:
            raise self.error(
                node, f"a number of {digits:,} digits; numbers in a spec have at most {MAX_NUMBER_DIGITS}"
            )
        try:
            if tag == "int":
                value: int | float = _CONSTRUCTOR.construct_yaml_int(node)
            else:
                value = _CONSTRUCTOR.construct_yaml_float(node)
        except ValueError:
            raise self.error(node, self.mistagged(node, tag)) from None
        return value

    @staticmethod
    def mistagged(node: yaml.ScalarNode, tag: str) -> str:
        """Say that a scalar is not what its tag (`!!bool maybe`) says it is."""
        return f"{clip(node.value)} is not a YAML {tag}; remove the !!{tag} tag or fix it"

    def scalar(self, node: yaml.ScalarNode) -> Scalar:
        line, column = _mark(node)
        tag = node.tag[len(_TAG) :] if node.tag.startswith(_TAG) else node.tag
        value: object
        if tag == "str":
            value = node.value
        elif tag == "null":
            if not _NULL.match(node.value):  # `!!null abc`: the tag says null, the text does not
                raise self.error(node, self.mistagged(node, tag))
            value = None
        elif tag == "bool":
            if node.value.lower() not in _CONSTRUCTOR.bool_values:
                raise self.error(node, self.mistagged(node, tag))
            value = _CONSTRUCTOR.construct_yaml_bool(node)
        elif tag in ("int", "float"):
            value = self.number(node, tag)
        elif tag == "timestamp":
            try:  # a date PyYAML cannot make (`!!timestamp soon`, a 13th month) is no timestamp
                _CONSTRUCTOR.construct_yaml_timestamp(node)
            except (ValueError, TypeError, AttributeError, OverflowError):
                raise self.error(node, self.mistagged(node, tag)) from None
            value = node.value  # kept as text: no field of a spec is a date
        else:
            raise self.error(node, f"unsupported YAML tag {clip(node.tag)}; only plain YAML is accepted")
        return Scalar(value, node.value, tag, node.style in ("'", '"'), line, column)


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise SpecError(
            f"byte 0x{data[exc.start]:02x} is not valid UTF-8; save the file as UTF-8",
            path,
            line,
            column,
        ) from None


def _tab_at(text: str, line: int, column: int) -> int | None:
    """Return the 0-based column of the tab that broke a YAML line (at the error or in its indent)."""
    lines = text.split("\n")
    if line >= len(lines):
        return None
    row = lines[line]
    if column < len(row) and row[column] == "\t":
        return column
    indent = row[: len(row) - len(row.lstrip(" \t-"))]
    return indent.index("\t") if "\t" in indent else None


def _count_written_nodes(text: str, path: str) -> None:
    """Refuse a document written out at more than MAX_EXPANDED_NODES nodes before composing it.

    Composing builds an object per node (about 500 bytes and 20 microseconds each); the parser's
    event stream holds one event at a time, so it stops at the limit with bounded memory."""
    count = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, _NODE_EVENTS):
            count += 1
            if count > MAX_EXPANDED_NODES:
                mark = event.start_mark
                line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
                raise SpecError(
                    f"document has more than {MAX_EXPANDED_NODES:,} nodes; a spec is a short list of layers",
                    path,
                    line,
                    column,
                )


def load_nodes(data: bytes, path: str) -> Node:
    """Parse one YAML document into located nodes, or raise SpecError with its position."""
    text = _decode(data, path)
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        if len(text) > _COUNT_FIRST_CHARS:
            _count_written_nodes(text, path)
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is None:
            raise SpecError(f"invalid YAML: {problem}", path) from None
        tab = _tab_at(text, mark.line, mark.column)
        if tab is not None:
            raise SpecError(
                f"invalid YAML: tab at column {tab + 1}; tabs are not allowed for indentation in YAML, "
                "indent with spaces",
                path,
                mark.line + 1,
                tab + 1,
            ) from None
        raise SpecError(f"invalid YAML: {problem}", path, mark.line + 1, mark.column + 1) from None
    except yaml.reader.ReaderError as exc:  # a character YAML forbids: located by offset, not mark
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise SpecError(
            f"invalid YAML: control character U+{code:04X} is not allowed; remove it",
            path,
            line,
            column,
        ) from None
    except yaml.YAMLError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(f"invalid YAML: {first_line}", path, 1, 1) from None
    if root is None:
        raise SpecError("the file is empty; a spec needs at least `input` and `layers`", path, 1, 1)
    expanded, distinct = _expanded_size(root, path)
    if expanded > MAX_EXPANDED_NODES:
        line, column = _mark(root)
        if distinct > MAX_EXPANDED_NODES:  # too big as written: aliases are not to blame
            message = f"document has more than {MAX_EXPANDED_NODES:,} nodes; a spec is a short list of layers"
        else:
            message = (
                f"document expands to more than {MAX_EXPANDED_NODES:,} nodes through aliases; "
                "write the layers out or use fewer nested aliases"
            )
        raise SpecError(message, path, line, column)
    return _Converter(path).convert(root)


def to_python(node: Node) -> object:
    """Return the plain Python value of located nodes: dicts, lists and scalars (a timestamp as text)."""
    if isinstance(node, Mapping):
        return {key: to_python(value) for key, (_, value) in node.items.items()}
    if isinstance(node, Sequence):
        return [to_python(item) for item in node.items]
    return node.value

"""Checker a JSON document against convprof's own schemas, and say where it departs from them.

Saved reports come back from disk (baselines, diffs, merges) possibly edited by hand or cut short;
every field the commands read is checked here first, so a wrong value is one message naming the
field and its line, not a crash deep inside `diff`. Only the keywords convprof's schemas use are
supported: type, enum, const, minimum, maximum, minItems, maxItems, items, properties, required,
additionalProperties and oneOf (of alternatives that differ by type). One departure from JSON
Schema, on purpose: an integer is a number written without a fraction (`456`, not `456.0`), since
every count in a report is exact.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "MAX_STRING_CHARS",
    "Checker",
    "HugeInteger",
    "Violation",
    "compile_schema",
    "deep_position",
    "find_unsafe",
    "find_violation",
    "loads",
    "locate",
]

#: Nesting a report never needs (it is 7 levels deep); deeper values are refused before any code walks them.
MAX_DEPTH = 64
#: Digits an integer in a report may have: more than any count convprof writes (below 10**70), few
#: enough that every one converts to a float for ratios; Python refuses to read past 4,300.
MAX_INT_DIGITS = 100

#: Characters a string (or a key) in a report may have: far more than any a report holds (a name in
#: a spec has at most 10,000, a description 65,536, a path a few nested names).
MAX_STRING_CHARS = 2**20

#: Characters of a dotted path a message shows.
_DOTTED_CHARS = 80

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BLANK = re.compile(r"[ \t\n\r]*")

#: A path into a document: object keys and array indices, outermost first.
JsonPath = tuple[str | int, ...]

#: A UTF-16 surrogate on its own: JSON's \ud800 escapes make them, and no UTF-8 output can hold one.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class HugeInteger:
    """An integer literal too long to convert, kept as its digit count so that it can be refused."""

    digits: int
    """How many digits it has."""


def _parse_int(text: str) -> int | HugeInteger:
    digits = len(text.lstrip("-"))
    return HugeInteger(digits) if digits > MAX_INT_DIGITS else int(text)


def loads(text: str) -> Any:
    """Parse JSON as json.loads does, but leave over-long integers as HugeInteger for find_unsafe.

    Raises json.JSONDecodeError on bad JSON and RecursionError past Python's nesting limit."""
    return json.loads(text, parse_int=_parse_int)


def _unsafe_scalar(item: Any) -> str | None:
    """Say what is wrong with a value no report holds (not a container), or None."""
    if isinstance(item, HugeInteger):
        return f"an integer of {item.digits:,} digits; a report's have at most {MAX_INT_DIGITS}"
    if isinstance(item, float) and not math.isfinite(item):
        return f"{json.dumps(item)} is not a number a report holds; only finite numbers are"
    if isinstance(item, str):
        if len(item) > MAX_STRING_CHARS:
            return f"a string of {len(item):,} characters; a report's have at most {MAX_STRING_CHARS:,}"
        if _SURROGATE.search(item):
            return "a string with a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)"
    return None


def _unsafe_keys(item: dict[str, Any]) -> str | None:
    """Say what is wrong with a key of an object, or None."""
    for key in item:
        if len(key) > MAX_STRING_CHARS:
            return f"a key of {len(key):,} characters; a report's have at most {MAX_STRING_CHARS:,}"
        if _SURROGATE.search(key):
            return "a key with a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)"
    return None


def _entries(item: dict[str, Any] | list[Any]) -> Iterator[tuple[str | int, Any]]:
    return iter(item.items()) if isinstance(item, dict) else iter(enumerate(item))


def find_unsafe(value: Any) -> Violation | None:
    """Return the first value no report holds: nested past MAX_DEPTH, an integer past MAX_INT_DIGITS,
    NaN or an infinity, a string or key longer than MAX_STRING_CHARS or with a lone surrogate; None
    when there is none.

    Checked on the whole document, schema or not, before anything reads it, depth first in document
    order; iteratively, holding one iterator per level (a deep document must not exhaust the stack
    here, nor a long list the memory)."""
    if not isinstance(value, dict | list):
        message = _unsafe_scalar(value)
        return None if message is None else Violation((), message)
    if isinstance(value, dict) and (message := _unsafe_keys(value)) is not None:
        return Violation((), message)
    stack: list[tuple[JsonPath, Iterator[tuple[str | int, Any]]]] = [((), _entries(value))]
    while stack:
        path, entries = stack[-1]
        for key, child in entries:
            if len(path) + 1 > MAX_DEPTH:
                return Violation((*path, key), f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(child, dict | list):
                if isinstance(child, dict) and (message := _unsafe_keys(child)) is not None:
                    return Violation((*path, key), message)
                stack.append(((*path, key), _entries(child)))
                break
            message = _unsafe_scalar(child)
            if message is not None:
                return Violation((*path, key), message)
        else:
            stack.pop()
    return None


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def deep_position(text: str, limit: int = MAX_DEPTH) -> int:
    """Return the offset where JSON `text` first nests deeper than `limit` (len(text) if it never does).

    For documents json.loads cannot read for their depth; strings are skipped, so brackets in them
    do not count."""
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return match.start()
        elif token in ("]", "}"):
            depth -= 1
    return len(text)


@dataclass
class Violation:
    """Where a document departs from its schema, and how."""

    path: JsonPath
    """Keys and indices from the document's root to the value at fault (filled in on the way out)."""
    message: str
    """What is wrong, e.g. `expected an integer >= 0, got "x"`."""

    @property
    def dotted(self) -> str:
        """The path as `variants.conv.layers[3].params`, cut short past 80 characters."""
        text = ""
        for part in self.path:
            if isinstance(part, int):
                text += f"[{part}]"
            elif _NAME.fullmatch(part):
                text += f".{part}" if text else part
            else:  # a key a person may have typed: quoted, escaped, on one line
                text += f"[{json.dumps(part)}]"
        if len(text) > _DOTTED_CHARS:
            text = text[: _DOTTED_CHARS - 3] + "..."
        return text or "the document"


#: JSON kind of each Python type json.loads produces; "integer" is also a "number".
_KIND: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}

#: A compiled schema: None when the value fits, else where (inside the value) and how it does not.
Checker = Callable[[Any], "Violation | None"]


def _kinds(schema: dict[str, Any]) -> frozenset[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    names = {declared} if isinstance(declared, str) else set(declared)
    return frozenset(names | {"integer"} if "number" in names else names)


def _expected(schema: dict[str, Any]) -> str:
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(option) for option in schema["enum"])
    declared = schema.get("type", [])
    names = [declared] if isinstance(declared, str) else list(declared)
    values = [t for t in names if t != "null"]
    text = " or ".join("an " + t if t[0] in "aeiou" else "a " + t for t in values)
    text = (text or ("" if "null" in names else "a value")) + (
        f" >= {schema['minimum']}" if "minimum" in schema and values else ""
    )
    if "maximum" in schema and values:
        text += f"{' and' if 'minimum' in schema else ''} <= {schema['maximum']:g}"
    # null is a value of its own, not a kind of number: `an integer >= 0 or null` (an unknown count).
    return f"{text} or null" if "null" in names and text else text or "null"


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _inside(found: Violation | None, key: str | int) -> Violation | None:
    if found is not None:
        found.path = (key, *found.path)
    return found


def compile_schema(schema: dict[str, Any]) -> Checker:
    """Turn a schema into a check function; compile once, check many documents quickly."""
    if "oneOf" in schema:
        return _one_of(
            [(_kinds(alternative), compile_schema(alternative)) for alternative in schema["oneOf"]], schema
        )
    kinds = _kinds(schema)
    minimum = schema.get("minimum")
    maximum = schema.get("maximum")
    constants = [schema["const"]] if "const" in schema else schema.get("enum")
    container: Checker | None = None
    if kinds is None or "array" in kinds:
        container = _array(schema)
    if kinds is None or "object" in kinds:
        container = _object(schema, container)

    def check(value: Any) -> Violation | None:
        kind = _KIND.get(type(value))
        if (
            (kinds is not None and kind not in kinds)
            or (kind == "number" and not math.isfinite(value))  # NaN passes every comparison
            or (minimum is not None and kind in ("integer", "number") and value < minimum)
            or (maximum is not None and kind in ("integer", "number") and value > maximum)
            or (constants is not None and not any(value == c and type(value) is type(c) for c in constants))
        ):
            return Violation((), f"expected {_expected(schema)}, got {_shown(value)}")
        return container(value) if container is not None and kind in ("array", "object") else None

    return check


def _one_of(alternatives: list[tuple[frozenset[str] | None, Checker]], schema: dict[str, Any]) -> Checker:
    expected = " or ".join(_expected(alternative) for alternative in schema["oneOf"])

    def check(value: Any) -> Violation | None:
        kind = _KIND.get(type(value))
        fitting = [alternative for kinds, alternative in alternatives if kinds is None or kind in kinds]
        if not fitting:
            return Violation((), f"expected {expected}, got {_shown(value)}")
        failures = [alternative(value) for alternative in fitting]
        if any(failure is None for failure in failures):
            return None
        return failures[0]  # the alternative of the value's own type says best what is wrong inside it

    return check


def _array(schema: dict[str, Any]) -> Checker:
    low, high = schema.get("minItems", 0), schema.get("maxItems")
    items = compile_schema(schema["items"]) if "items" in schema else None

    def check(value: Any) -> Violation | None:
        if not isinstance(value, list):
            return None
        if len(value) < low or (high is not None and len(value) > high):
            size = str(low) if low == high else f"at least {low}" if high is None else f"{low} to {high}"
            return Violation((), f"expected {size} items, got {len(value)}")
        if items is not None:
            for index, item in enumerate(value):
                found = items(item)
                if found is not None:
                    return _inside(found, index)
        return None

    return check


def _object(schema: dict[str, Any], otherwise: Checker | None) -> Checker:
    required: list[str] = list(schema.get("required", ()))
    properties = {key: compile_schema(value) for key, value in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    extra_check = compile_schema(extra) if isinstance(extra, dict) else None
    known = ", ".join(properties)

    def check(value: Any) -> Violation | None:
        if not isinstance(value, dict):
            return otherwise(value) if otherwise is not None else None
        for key in required:
            if key not in value:
                return Violation((), f"missing {json.dumps(key)}")
        for key, item in value.items():
            test = properties.get(key, extra_check)
            if test is None and extra is False:
                return Violation((key,), f"unknown field (known: {known})")
            found = test(item) if test is not None else None
            if found is not None:
                return _inside(found, key)
        return None

    return check


def find_violation(value: Any, schema: dict[str, Any]) -> Violation | None:
    """Return the first place `value` breaks `schema`, depth first in document order; None if valid."""
    return compile_schema(schema)(value)


def locate(text: str, path: JsonPath) -> tuple[int, int]:
    """Return the 1-based (line, column) where the value at `path` starts in JSON `text`.

    `text` must be valid JSON. Values on the way are skipped by the C decoder, so this is quick even
    for a large report; a path that is not there gives the position of the deepest value found.
    """
    decoder = json.JSONDecoder(parse_int=_parse_int)
    position = _blank(text, 0)
    for part in path:
        opening = text[position : position + 1]
        if opening == "{" and isinstance(part, str):
            found = _member(text, position, part, decoder)
        elif opening == "[" and isinstance(part, int):
            found = _element(text, position, part, decoder)
        else:
            found = None
        if found is None:
            break
        position = found
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def _blank(text: str, position: int) -> int:
    match = _BLANK.match(text, position)
    return match.end() if match else position


def _member(text: str, position: int, name: str, decoder: json.JSONDecoder) -> int | None:
    """Where the value of `name` starts in the object at `position` (the last one, as json.loads)."""
    found = None
    position = _blank(text, position + 1)
    while text.startswith('"', position):
        key, position = decoder.raw_decode(text, position)
        position = _blank(text, _blank(text, position) + 1)  # past the colon
        if key == name:
            found = position
        _, position = decoder.raw_decode(text, position)
        position = _blank(text, position)
        if text.startswith(",", position):
            position = _blank(text, position + 1)
    return found


def _element(text: str, position: int, index: int, decoder: json.JSONDecoder) -> int | None:
    position = _blank(text, position + 1)
    for _ in range(index):
        if text.startswith("]", position):
            return None
        _, position = decoder.raw_decode(text, position)
        position = _blank(text, position)
        if not text.startswith(",", position):
            return None
        position = _blank(text, position + 1)
    return None if text.startswith("]", position) else position

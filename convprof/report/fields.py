"""A report's fields, each declared once on its dataclass (`field(metadata=json(...))`): its JSON
Schema and the schema version that first wrote it; a field that derives from the others is
init=False.

What a dataclass writes to JSON (`write`), how it is read back (`read`) and its JSON Schema
(`object_schema`) follow from its fields, in their order; a field without this metadata is not
written as it is (its owner writes it its own way). Values convert by the field's annotation: a
tuple is a JSON array, a float may be spelled as a JSON integer.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, fields
from typing import Any

__all__ = [
    "COUNT",
    "MAX_FIGURE",
    "MAX_MS",
    "MAYBE_COUNT",
    "MAYBE_NUMBER",
    "MAYBE_TEXT",
    "NUMBER",
    "OLDEST",
    "SHAPE",
    "Json",
    "derived_names",
    "json",
    "json_fields",
    "names",
    "object_schema",
    "plain",
    "read",
    "write",
]

#: The schema version of the oldest reports convprof reads: every field is in them unless it says.
OLDEST = 3

#: Longest time a report may give, in milliseconds (11.6 days a call): no measurement comes near it,
#: and sums of many of them stay exact enough and finite.
MAX_MS = 1e9
#: Largest other measured figure (FLOP/s, FLOP/B, fractions, percentages): far past any machine's.
MAX_FIGURE = 1e30

#: A count: parameters, MACs, bytes.
COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
#: A layer's count that may be unknown (an opaque op's): null then, never 0.
MAYBE_COUNT: dict[str, Any] = {"type": ["integer", "null"], "minimum": 0}
#: A per-sample shape.
SHAPE: dict[str, Any] = {"type": "array", "items": {"type": "integer", "minimum": 1}}
#: Text that may be unknown.
MAYBE_TEXT: dict[str, Any] = {"type": ["string", "null"]}
#: A measured figure (FLOP/s, FLOP/B, a fraction).
NUMBER: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": MAX_FIGURE}
MAYBE_NUMBER: dict[str, Any] = {"type": ["number", "null"], "minimum": 0, "maximum": MAX_FIGURE}


@dataclass(frozen=True, slots=True)
class Json:
    """How one dataclass field is written to a JSON report and described by its schema."""

    schema: Mapping[str, Any]
    """Its JSON Schema."""
    since: int = OLDEST
    """The first schema version that writes it: absent from older reports."""
    encode: Callable[[Any], Any] | None = None
    """Its JSON form where the annotation does not say it (a mapping held as pairs); None otherwise."""
    decode: Callable[[Any], Any] | None = None
    """The inverse of `encode`."""


def json(
    schema: Mapping[str, Any],
    *,
    since: int = OLDEST,
    encode: Callable[[Any], Any] | None = None,
    decode: Callable[[Any], Any] | None = None,
) -> dict[str, Json]:
    """Return the metadata of a dataclass field written to JSON as `schema` describes (see Json):
    `field(metadata=json(...))`. A field with init=False derives from the others (its class's
    __post_init__ sets it): written for readers, never read back as given."""
    return {"json": Json(schema, since, encode, decode)}


def json_fields(cls: type[Any], version: int) -> tuple[Field[Any], ...]:
    """Return the fields of dataclass `cls` that a report of schema `version` writes, in order."""
    return tuple(f for f in fields(cls) if "json" in f.metadata and f.metadata["json"].since <= version)


def _json(f: Field[Any]) -> Json:
    meta: Json = f.metadata["json"]
    return meta


def names(cls: type[Any], version: int) -> tuple[str, ...]:
    """Return the names of the fields of `cls` that a report of schema `version` writes, in order."""
    return tuple(f.name for f in json_fields(cls, version))


def derived_names(cls: type[Any], version: int) -> tuple[str, ...]:
    """Return the derived fields of `cls` a report of schema `version` writes."""
    return _plan(cls, version).derived


def plain(value: Any) -> Any:
    """Return `value` as JSON holds it: tuples as lists, all the way down."""
    if isinstance(value, tuple):
        return [plain(item) for item in value]
    return value


#: What a field's value goes through on its way to or from JSON; None: nothing.
Converter = Callable[[Any], Any] | None


def _converter(hint: Any) -> Converter:
    """Return what turns a JSON value into one annotation `hint` holds (None where JSON's is it)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [arm for arm in typing.get_args(hint) if arm is not type(None)]
        inner = _converter(arms[0]) if len(arms) == 1 else None
        return None if inner is None else (lambda value: None if value is None else inner(value))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _converter(args[0])
            return tuple if item is None else (lambda value: tuple(item(v) for v in value))
        each = [_converter(arg) for arg in args]
        return lambda value: tuple(v if c is None else c(v) for v, c in zip(value, each, strict=True))
    if hint is float:
        return float
    return None


@dataclass(frozen=True, slots=True)
class _Plan:
    """How the fields of one dataclass at one schema version go to JSON and back, worked out once."""

    written: tuple[tuple[str, Converter], ...]
    """Each field written, and what its value goes through (its encode, or tuples to lists)."""
    read: tuple[tuple[str, Converter], ...]
    """Each field read back (derived ones left out), and what its JSON value goes through."""
    derived: tuple[str, ...]
    """The derived fields written."""


#: Each dataclass's plan at each schema version, worked out on first use.
_PLANS: dict[tuple[type[Any], int], _Plan] = {}


def _plan(cls: type[Any], version: int) -> _Plan:
    key = (cls, version)
    if key not in _PLANS:
        hints = typing.get_type_hints(cls)
        written: list[tuple[str, Converter]] = []
        read: list[tuple[str, Converter]] = []
        for f in json_fields(cls, version):
            meta = _json(f)
            hint = hints[f.name]
            tuples = "tuple" in str(hint)
            written.append((f.name, meta.encode if meta.encode is not None else plain if tuples else None))
            if f.init:
                read.append((f.name, meta.decode if meta.decode is not None else _converter(hint)))
        derived = tuple(f.name for f in json_fields(cls, version) if not f.init)
        _PLANS[key] = _Plan(tuple(written), tuple(read), derived)
    return _PLANS[key]


def write(item: Any, version: int) -> dict[str, Any]:
    """Return the JSON fields of dataclass instance `item` for a report of schema `version`."""
    data: dict[str, Any] = {}
    for name, convert in _plan(type(item), version).written:
        value = getattr(item, name)
        data[name] = value if convert is None else convert(value)
    return data


def read(cls: type[Any], data: Mapping[str, Any], version: int) -> dict[str, Any]:
    """Return the keyword arguments of `cls` that `write` wrote into `data` (derived fields left out:
    they are computed again)."""
    values: dict[str, Any] = {}
    for name, convert in _plan(cls, version).read:
        value = data[name]
        values[name] = value if convert is None else convert(value)
    return values


def object_schema(cls: type[Any], version: int, **extra: Any) -> dict[str, Any]:
    """Return the JSON Schema of what `write` writes of `cls` at schema `version`: every field
    required, no other; `extra` adds keywords (a description)."""
    written = json_fields(cls, version)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [f.name for f in written],
        **extra,
        "properties": {f.name: dict(_json(f).schema) for f in written},
    }

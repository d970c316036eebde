"""Which kind reads back each torch module class and each torch callable, from the kinds' own pieces."""

from __future__ import annotations

from typing import Any

from convprof.kinds import LayerKind, all_kinds

__all__ = ["call_table", "callable_name", "module_types", "type_name"]


def _resolve(name: str) -> Any:
    """Return the object a dotted name names (torch.nn.Conv2d), or None where it cannot be imported."""
    import importlib

    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            value: Any = importlib.import_module(module_name)
        except Exception:  # a package the kind names may be absent or broken: its entry is not used
            continue
        try:
            for part in parts[cut:]:
                value = getattr(value, part)
        except AttributeError:
            return None
        return value
    return None


def module_types() -> dict[type, LayerKind]:
    """Return torch module class -> the public kind that reads it back."""
    table: dict[type, LayerKind] = {}
    for kind in all_kinds():
        if not kind.public:
            continue
        for name in kind.torch_types:
            cls = _resolve(name)
            if cls is None:
                continue
            if cls in table:
                raise AssertionError(f"{name} is read back by both {table[cls].name} and {kind.name}")
            table[cls] = kind
    return table


def call_table() -> dict[str, tuple[LayerKind, ...]]:
    """Return a callable's name -> the public kinds offered its calls, in registration order."""
    table: dict[str, tuple[LayerKind, ...]] = {}
    for kind in all_kinds():
        if kind.public:
            for name in kind.torch_calls:
                table[name] = (*table.get(name, ()), kind)
    return table


def callable_name(function: Any) -> str:
    """Return the name kinds use for a traced function: `torch.nn.functional.relu`, `operator.add`."""
    import operator

    import torch
    import torch.nn.functional

    name = getattr(function, "__name__", None) or repr(function)
    for prefix, namespace in (
        ("operator", operator),
        ("torch.nn.functional", torch.nn.functional),
        ("torch", torch),
    ):
        if getattr(namespace, name, None) is function:
            return f"{prefix}.{name}"
    module = getattr(function, "__module__", None) or "builtins"
    return f"{module}.{getattr(function, '__qualname__', name)}"


def type_name(cls: type) -> str:
    """Return a module class's public name: torch.nn.LSTM rather than torch.nn.modules.rnn.LSTM."""
    import torch.nn

    if getattr(torch.nn, cls.__name__, None) is cls:
        return f"torch.nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"

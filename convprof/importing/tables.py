"""Which kind reads back each torch module class and each torch callable, from the kinds' own pieces."""

from __future__ import annotations

from typing import Any

from convprof.kinds import LayerKind, all_kinds

__all__ = ["ModuleReaders", "call_table", "callable_name", "module_table", "type_name"]

#: What a subclass may define and still be read as the module class it derives from: they build the
#: module or describe it, and nothing its forward runs calls them.
_CONSTRUCTION = frozenset({"__init__", "extra_repr", "reset_parameters"})


def module_table() -> dict[str, LayerKind]:
    """Return a module class's name (`torch.nn.Conv2d`, as `type_name` gives it) -> the public kind
    that reads it back. The names are not imported: a class matches by its name."""
    table: dict[str, LayerKind] = {}
    for kind in all_kinds():
        if not kind.public:
            continue
        for name in kind.torch_types:
            if name in table:
                raise AssertionError(f"{name} is read back by both {table[name].name} and {kind.name}")
            table[name] = kind
    return table


def _adds_only(subclass: type, base: type) -> bool:
    """Return True when `subclass` overrides none of the methods of `base` but its constructors."""
    for name, value in vars(subclass).items():
        method = callable(value) or isinstance(value, staticmethod | classmethod | property)
        if method and name not in _CONSTRUCTION and hasattr(base, name):
            return False
    return True


class ModuleReaders:
    """The kind that reads back each module class: by its own name, or by the name of the class it
    derives from where no class between them overrides a method (torchvision's `Conv3DSimple` is an
    `nn.Conv3d` with its own constructor only, so it computes what a Conv3d computes)."""

    def __init__(self) -> None:
        self.names = module_table()
        self.found: dict[type, LayerKind | None] = {}

    def kind_of(self, cls: type) -> LayerKind | None:
        """Return the kind that reads modules of class `cls`, or None."""
        if cls not in self.found:
            self.found[cls] = self._search(cls)
        return self.found[cls]

    def _search(self, cls: type) -> LayerKind | None:
        for position, base in enumerate(cls.__mro__):
            kind = self.names.get(type_name(base))
            if kind is not None:
                overridden = not all(_adds_only(sub, base) for sub in cls.__mro__[:position])
                return None if overridden else kind
        return None


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

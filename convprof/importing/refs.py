"""Load the nn.Module a model reference names: `package.module:callable`, `file.py:callable`, `...:instance`.

Loading a reference runs the user's code (importing their module and calling their function): with
the trace of its forward, the one place convprof executes code, always inside `user_code` (its
stdout to stderr, the working directory kept, no cache left behind); a spec is data only.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convprof.errors import SpecError, UsageError
from convprof.importing.usercode import first_line, user_code
from convprof.spec import Shape
from convprof.spec.yamlnode import load_nodes, to_python

if TYPE_CHECKING:
    import torch

__all__ = ["is_reference", "load_reference", "parse_input", "parse_kwargs", "reference_name"]

#: `where:attribute`, where is a module or a .py file and attribute a dotted Python name.
_REFERENCE = re.compile(r"^(?P<where>[^:]+):(?P<attribute>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)$")
#: Most dimensions `--input` takes: (C, D, H, W).
_MAX_INPUT_RANK = 4
#: Largest size of one input dimension: an import propagates shapes only, but specs are bounded.
_MAX_INPUT_SIZE = 2**31


def is_reference(argument: str) -> bool:
    """Return True when `argument` names a model (module:callable) rather than a spec file or example."""
    return _REFERENCE.match(argument) is not None and not Path(argument).exists()


def reference_name(reference: str) -> str:
    """Return the spec name a reference gives: its attribute's last part (resnet50)."""
    return reference.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


def parse_input(text: str) -> Shape:
    """Return `--input` (3x224x224, or 3,224,224) as a shape."""
    parts = re.split(r"[x,]", text.strip().lower())
    if not 1 <= len(parts) <= _MAX_INPUT_RANK or not all(re.fullmatch(r"\d+", part) for part in parts):
        raise UsageError(
            f"--input {text!r}: give one sample's shape as sizes joined by x, channels first, "
            "e.g. 3x224x224 (1 to 4 sizes)"
        )
    shape = tuple(int(part) for part in parts)
    if any(not 1 <= size <= _MAX_INPUT_SIZE for size in shape):
        raise UsageError(f"--input {text!r}: each size must be between 1 and {_MAX_INPUT_SIZE:,}")
    return shape


def parse_kwargs(text: str | None) -> dict[str, Any]:
    """Return `--kwargs` (a YAML or JSON mapping) as keyword arguments, read as a spec is: plain YAML
    only, no tags, no duplicate keys, aliases bounded."""
    if text is None or not text.strip():
        return {}
    try:
        value = to_python(load_nodes(text.encode("utf-8"), "--kwargs"))
    except SpecError as exc:
        where = f" at {exc.line}:{exc.column}" if exc.line else ""  # line:column in the option's text
        raise UsageError(f"--kwargs{where}: {exc.message}") from None
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise UsageError("--kwargs: give a mapping of argument names to values, such as '{num_classes: 10}'")
    return dict(value)


def _is_file_reference(where: str) -> bool:
    """Return True when a reference's `where` names a Python file rather than a module."""
    return where.endswith(".py") or "/" in where


def _check_file(reference: str, where: str) -> None:
    """Raise a UsageError saying what `where` is when it is not a Python file that can be run."""
    path = Path(where)
    if not path.exists():
        raise UsageError(f"{reference}: {where} does not exist; give the path of the model's Python file")
    if path.is_dir():
        raise UsageError(f"{reference}: {where} is a directory; give the path of a Python file in it")
    if not path.is_file():
        raise UsageError(f"{reference}: {where} is not a regular file; give the path of a Python file")


def _load_namespace(reference: str, where: str) -> Any:
    """Import the module or run the file `where` names."""
    if _is_file_reference(where):
        path = Path(where)
        _check_file(reference, where)
        name = f"convprof_model_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"{reference}: cannot load {where} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look their module up by name
        sys.path.insert(0, str(path.resolve().parent))  # its own imports of neighbouring files work
        spec.loader.exec_module(module)
        return module
    if "" not in sys.path:
        sys.path.insert(0, "")  # as `python -m` does: modules in the current directory import
    return importlib.import_module(where)


def _attribute(reference: str, where: str, namespace: Any, attribute: str) -> Any:
    value = namespace
    for part in attribute.split("."):
        if not hasattr(value, part):
            names = [name for name in dir(value) if not name.startswith("_")]
            match = difflib.get_close_matches(part, names, n=1)
            hint = f" (did you mean {match[0]}?)" if match else ""
            raise UsageError(f"{reference}: {where} has no attribute {part!r}{hint}")
        value = getattr(value, part)
    return value


def load_reference(reference: str, kwargs: Mapping[str, Any]) -> torch.nn.Module:
    """Return the nn.Module `reference` names, calling it with `kwargs` when it is a callable.

    A callable runs on the meta device, so that building even a huge model allocates nothing; one
    that cannot (it loads weights from a file, say) runs again on the CPU. Without torch installed,
    a UsageError says how to install it (after the reference itself is checked)."""
    from convprof.torchdep import require_torch

    match = _REFERENCE.match(reference)
    if match is None:
        raise UsageError(f"{reference}: a model reference is package.module:callable or file.py:callable")
    where, attribute = match["where"], match["attribute"]
    if _is_file_reference(where):
        _check_file(reference, where)
    require_torch("importing a PyTorch model", "a saved spec counts without it")
    import torch

    try:
        with user_code(f"{reference}: loading {where}"):
            namespace = _load_namespace(reference, where)
    except UsageError:
        raise
    except ModuleNotFoundError as exc:
        raise UsageError(f"{reference}: cannot import {where}: {first_line(exc)}") from None
    except Exception as exc:  # the user's code failed: name it, never a traceback
        raise UsageError(f"{reference}: loading {where} raised {first_line(exc)}") from None
    try:
        with user_code(f"{reference}: reading {attribute}"):  # a module's __getattr__ runs its code
            target = _attribute(reference, where, namespace, attribute)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{reference}: reading {attribute} raised {first_line(exc)}") from None
    if isinstance(target, torch.nn.Module):
        if kwargs:
            raise UsageError(
                f"{reference}: names a module instance; --kwargs is for a callable that builds one"
            )
        return target
    if not callable(target):
        raise UsageError(f"{reference}: {attribute} is a {type(target).__name__}, not a module or a callable")
    calling = f"{reference}: calling {attribute}"
    try:
        with user_code(calling), torch.device("meta"):
            model = target(**kwargs)
    except Exception:
        try:
            with user_code(calling):
                model = target(**kwargs)
        except UsageError:
            raise
        except Exception as exc:
            raise UsageError(f"{calling} raised {first_line(exc)}") from None
    if not isinstance(model, torch.nn.Module):
        raise UsageError(
            f"{reference}: {attribute}() returned a {type(model).__name__}, not a torch.nn.Module"
        )
    return model

"""A functional call on a module's own tensors is the torch layer it computes.

`F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias)` (timm's
BatchNormAct2d), `F.conv2d(x, self.weight, ...)` (with a buffer as its weight, a fixed filter such as
BlurPool's: `F.conv2d(x, self.filt, stride=2, groups=channels)`), `F.linear`,
`F.layer_norm`/`F.group_norm` with weights and `F.prelu` compute what the module of torch.nn of the
same settings computes. The call is read by building that module (on the meta device: it costs
nothing) with the call's settings and its tensors' shapes, and reading it as the kind that reads that
module class: one reader per kind, the module's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convprof.importing.values import Activation, Derived, ModelTensor, Piece, Values
from convprof.spec import ParameterWork, Shape

if TYPE_CHECKING:
    import torch

__all__ = ["FUNCTIONAL_LAYERS", "Match", "NotALayer", "StandIn", "fixed_filter", "match_tensors", "stand_in"]


@dataclass(frozen=True, slots=True)
class StandIn:
    """The torch layer a functional call computes, and which of its tensors each argument is."""

    module: torch.nn.Module
    """The layer, on the meta device, with the call's settings."""
    tensors: dict[str, Any]
    """The layer's tensor name -> the tensor the call passed for it (weight, running_mean)."""


class NotALayer(Exception):
    """The call's settings are not those of a torch layer (why, in one phrase)."""


def _bind(
    names: tuple[str, ...], defaults: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    bound = dict(defaults)
    bound.update(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


def _rank(x: Any, offset: int = 2) -> int:
    return int(x.dim()) - offset


def _conv(transposed: bool) -> Callable[[str, dict[str, Any]], StandIn]:
    def build(op: str, a: dict[str, Any]) -> StandIn:
        from torch import nn

        x, weight, bias = a["input"], a["weight"], a["bias"]
        rank = int(op[-2])
        if x.dim() != rank + 2 or weight.dim() != rank + 2:
            raise NotALayer(f"reads a {x.dim()}-dimensional input")
        kernel = tuple(int(k) for k in weight.shape[2:])
        groups = int(a["groups"])
        common = {"stride": a["stride"], "padding": a["padding"], "dilation": a["dilation"], "groups": groups}
        if transposed:
            cls = getattr(nn, f"ConvTranspose{rank}d")
            out = int(weight.shape[1]) * groups
            module = cls(
                int(x.shape[1]),
                out,
                kernel,
                output_padding=a["output_padding"],
                bias=bias is not None,
                **common,
            )
        else:
            cls = getattr(nn, f"Conv{rank}d")
            module = cls(int(x.shape[1]), int(weight.shape[0]), kernel, bias=bias is not None, **common)
        return StandIn(module, {"weight": weight, "bias": bias})

    return build


def _linear(op: str, a: dict[str, Any]) -> StandIn:
    from torch import nn

    weight, bias = a["weight"], a["bias"]
    if weight.dim() != 2:
        raise NotALayer("its weight is not a matrix")
    return StandIn(
        nn.Linear(int(weight.shape[1]), int(weight.shape[0]), bias=bias is not None),
        {"weight": weight, "bias": bias},
    )


def _affine(a: dict[str, Any]) -> bool:
    if (a["weight"] is None) != (a["bias"] is None):
        raise NotALayer("it has a weight without a bias, or a bias without a weight")
    return a["weight"] is not None


def _norm_class(prefix: str, x: Any) -> Any:
    from torch import nn

    rank = {2: 1, 3: 1, 4: 2, 5: 3}.get(int(x.dim()))
    if rank is None:
        raise NotALayer(f"reads a {x.dim()}-dimensional input")
    return getattr(nn, f"{prefix}{rank}d")


def _batch_norm(op: str, a: dict[str, Any]) -> StandIn:
    x, mean, var = a["input"], a["running_mean"], a["running_var"]
    tracked = mean is not None
    if tracked != (var is not None):
        raise NotALayer("it has one running statistic without the other")
    if tracked and a["training"]:
        raise NotALayer("it updates its running statistics (training mode)")
    cls = _norm_class("BatchNorm", x)
    module = cls(
        int(x.shape[1]), eps=a["eps"], momentum=a["momentum"], affine=_affine(a), track_running_stats=tracked
    )
    return StandIn(
        module, {"weight": a["weight"], "bias": a["bias"], "running_mean": mean, "running_var": var}
    )


def _instance_norm(op: str, a: dict[str, Any]) -> StandIn:
    x, mean, var = a["input"], a["running_mean"], a["running_var"]
    tracked = mean is not None
    if tracked != (var is not None) or a["use_input_stats"] == tracked:
        raise NotALayer("its statistics are not those of an instance norm in eval mode")
    cls = _norm_class("InstanceNorm", x)
    module = cls(
        int(x.shape[1]), eps=a["eps"], momentum=a["momentum"], affine=_affine(a), track_running_stats=tracked
    )
    return StandIn(
        module, {"weight": a["weight"], "bias": a["bias"], "running_mean": mean, "running_var": var}
    )


def _layer_norm(op: str, a: dict[str, Any]) -> StandIn:
    from torch import nn

    weight, bias = a["weight"], a["bias"]
    if weight is None and bias is not None:
        raise NotALayer("it has a bias without a weight")
    shape = a["normalized_shape"]
    shape = (int(shape),) if isinstance(shape, int) else tuple(int(size) for size in shape)
    module = nn.LayerNorm(shape, eps=a["eps"], elementwise_affine=weight is not None, bias=bias is not None)
    return StandIn(module, {"weight": weight, "bias": bias})


def _group_norm(op: str, a: dict[str, Any]) -> StandIn:
    from torch import nn

    x = a["input"]
    module = nn.GroupNorm(int(a["num_groups"]), int(x.shape[1]), eps=a["eps"], affine=_affine(a))
    return StandIn(module, {"weight": a["weight"], "bias": a["bias"]})


def _prelu(op: str, a: dict[str, Any]) -> StandIn:
    from torch import nn

    weight = a["weight"]
    return StandIn(nn.PReLU(int(weight.numel())), {"weight": weight})


_F = "torch.nn.functional."
_CONV = (
    ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1},
)
_TRANSPOSED = (
    ("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"),
    {"bias": None, "stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "dilation": 1},
)
#: The functional form of each torch layer: its op, its parameters in order with their defaults,
#: and how to build the layer.
FUNCTIONAL_LAYERS: dict[
    str, tuple[tuple[str, ...], dict[str, Any], Callable[[str, dict[str, Any]], StandIn]]
] = {
    **{f"{_F}conv{rank}d": (*_CONV, _conv(False)) for rank in (1, 2, 3)},
    **{f"{_F}conv_transpose{rank}d": (*_TRANSPOSED, _conv(True)) for rank in (1, 2, 3)},
    f"{_F}linear": (("input", "weight", "bias"), {"bias": None}, _linear),
    f"{_F}batch_norm": (
        ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
        {"weight": None, "bias": None, "training": False, "momentum": 0.1, "eps": 1e-5},
        _batch_norm,
    ),
    f"{_F}instance_norm": (
        ("input", "running_mean", "running_var", "weight", "bias", "use_input_stats", "momentum", "eps"),
        {
            "running_mean": None,
            "running_var": None,
            "weight": None,
            "bias": None,
            "use_input_stats": True,
            "momentum": 0.1,
            "eps": 1e-5,
        },
        _instance_norm,
    ),
    f"{_F}layer_norm": (
        ("input", "normalized_shape", "weight", "bias", "eps"),
        {"weight": None, "bias": None, "eps": 1e-5},
        _layer_norm,
    ),
    f"{_F}group_norm": (
        ("input", "num_groups", "weight", "bias", "eps"),
        {"weight": None, "bias": None, "eps": 1e-5},
        _group_norm,
    ),
    f"{_F}prelu": (("input", "weight"), {}, _prelu),
}


def stand_in(op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> StandIn:
    """Return the layer a call of the functional form `op` computes; raise NotALayer when its
    settings are no layer's, or TypeError/ValueError when torch refuses them as a layer's."""
    import torch

    names, defaults, build = FUNCTIONAL_LAYERS[op]
    bound = _bind(names, defaults, args, kwargs)
    if set(bound) - set(names) or any(name not in bound for name in names):
        raise NotALayer("it is called with arguments its layer does not take")
    with torch.device("meta"):
        return build(op, bound)


def fixed_filter(layer: StandIn) -> StandIn:
    """Return the stand-in of a convolution whose weight (and bias) the model holds as buffers: a
    fixed filter (BlurPool's blur), its tensors buffers of the layer too; NotALayer for another."""
    import torch
    from torch import nn

    from convprof.kinds import nn as built

    conv = layer.module
    if type(conv) not in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
        raise NotALayer("its weight is a buffer of the model, which only a convolution's may be")
    cls = getattr(built, f"Fixed{type(conv).__name__}")
    with torch.device("meta"):
        module = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
        )
    return StandIn(module, layer.tensors)


@dataclass(frozen=True, slots=True)
class Match:
    """How a stand-in layer's tensors match the model tensors a call read."""

    problem: str
    """Why they do not (empty when they do)."""
    owner: str = ""
    """The name of the module whose tensors they are."""
    counted: tuple[Any, ...] = ()
    """The model tensors the layer counts (its own, and those its parameter work reads)."""
    work: ParameterWork | None = None
    """The parameter work that computes its parameters (at the owner's path), if any."""


def match_tensors(layer: StandIn, root: torch.nn.Module, values: Values, tensors: dict[str, Any]) -> Match:
    """Match a stand-in layer's tensors with the model tensors the call passed: each a model tensor
    of the same kind (parameter or buffer) and size, or parameter work computed from a parameter of
    that size (then the work's other parameters are the layer's too), all of one module."""
    counted: list[Any] = []
    extra: list[str] = []
    made = 0
    ops: list[str] = []
    owners: set[str] = set()
    own = dict(layer.module.named_parameters(recurse=False))
    state = {**own, **dict(layer.module.named_buffers(recurse=False))}

    def is_parameter(name: str) -> bool:
        value = values.get(tensors[name])
        return isinstance(value, ModelTensor) and value.parameter

    for name, expected in state.items():
        tensor = layer.tensors.get(name)
        if tensor is None:
            continue
        value = values.get(tensor)
        if isinstance(value, ModelTensor):
            if value.parameter != (name in own):
                which = "parameter" if value.parameter else "buffer"
                return Match(f"its {name} is a {which} of the model, which the layer does not hold as such")
            if tensor.numel() != expected.numel():
                return Match(f"its {name} does not have the layer's shape")
            owners.add(value.name.rpartition(".")[0])
            counted.append(tensor)
        elif isinstance(value, Derived) and name in own:
            same = [
                s for s in sorted(value.sources) if is_parameter(s) and tensors[s].numel() == expected.numel()
            ]
            if not same:
                return Match(f"its {name} is computed from no parameter of its shape")
            owners.add(same[0].rpartition(".")[0])
            counted.append(tensors[same[0]])
            extra += [source for source in sorted(value.sources) if source != same[0]]
            made += value.values
            ops += [op for op in value.ops if op not in ops]
        elif isinstance(value, Activation | Piece):
            return Match(f"its {name} is computed from the input")
        else:
            return Match(f"its {name} is not a tensor of the model (made while running)")
    if len(owners) != 1:
        return Match("it reads the tensors of several modules")
    (owner,) = owners
    module = root.get_submodule(owner) if owner else root
    for name in state:
        if layer.tensors.get(name) is None:  # held by the layer, passed to no argument: num_batches_tracked
            tensor = dict(module.named_buffers(recurse=False)).get(name)
            if tensor is None or tensor.numel() != state[name].numel():
                return Match(f"its module holds no {name}, which the layer counts")
            counted.append(tensor)
    params: list[tuple[str, Shape]] = []
    for name in dict.fromkeys(extra):
        if name.rpartition(".")[0] != owner or not is_parameter(name):
            return Match(f"its weight is computed from {name}, which is not a parameter of the module")
        counted.append(tensors[name])
        params.append((name[len(owner) + 1 :] if owner else name, tuple(tensors[name].shape)))
    work = ParameterWork(owner, tuple(ops), made, tuple(params)) if made or params else None
    return Match("", owner, tuple(counted), work)

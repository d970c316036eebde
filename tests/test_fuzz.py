"""Property-based tests: random valid stacks match torch; random broken specs fail cleanly.

Hostile input too: numbers at and past every limit in every spec field and every numeric option,
values no report holds at every path of a report, and specs at the limits whose reports must read back.

The default example counts keep CI fast. The long run:

    CONVPROF_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py -q
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from convprof.cli import cli
from convprof.commands.sources import load_spec
from convprof.errors import SpecError
from convprof.graph.build import build_model
from convprof.graph.variants import VARIANTS
from convprof.report.analyze import analyze
from convprof.report.schema import report_schema
from tests.processes import CONVPROF
from tests.specbuild import make_spec, spec_text

EXAMPLES = int(os.environ.get("CONVPROF_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

small = st.integers(min_value=1, max_value=4)
pair = st.one_of(small, st.lists(small, min_size=2, max_size=2))


def conv_layer() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"out_channels": st.sampled_from([1, 2, 4, 6]), "kernel_size": pair},
        optional={
            "stride": pair,
            "padding": st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"])),
            "dilation": st.integers(1, 2),
            "groups": st.sampled_from([1, 2]),
            "bias": st.booleans(),
        },
    ).map(lambda args: {"conv2d": args})


def pool_layer() -> st.SearchStrategy[dict[str, Any]]:
    common = {"stride": pair, "padding": st.integers(0, 1), "ceil_mode": st.booleans()}
    maxpool = st.fixed_dictionaries({"kernel_size": pair}, optional={**common, "dilation": st.integers(1, 2)})
    avgpool = st.fixed_dictionaries(
        {"kernel_size": pair},
        optional={
            **common,
            "count_include_pad": st.booleans(),
            "divisor_override": st.one_of(st.none(), st.integers(1, 5)),
        },
    )
    return st.one_of(maxpool.map(lambda a: {"maxpool2d": a}), avgpool.map(lambda a: {"avgpool2d": a}))


def _with(kind: str, **optional: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A kind written bare (`relu`) or with any subset of its optional arguments."""
    return st.one_of(st.just(kind), st.fixed_dictionaries({}, optional=optional).map(lambda a: {kind: a}))


ADAPTIVE = st.one_of(small, st.tuples(st.one_of(small, st.none()), st.one_of(small, st.none())).map(list))
LAYER = st.one_of(
    conv_layer(),
    pool_layer(),
    *(_with(kind, inplace=st.booleans()) for kind in ("relu", "relu6", "silu")),
    _with("leakyrelu", negative_slope=st.floats(-1, 1), inplace=st.booleans()),
    _with("gelu", approximate=st.sampled_from(["none", "tanh"])),
    st.sampled_from(["sigmoid", "tanh", "identity"]),
    _with(
        "batchnorm2d",
        eps=st.floats(1e-6, 1e-2),
        momentum=st.one_of(st.none(), st.floats(0, 1)),
        affine=st.booleans(),
        track_running_stats=st.booleans(),
    ),
    st.builds(lambda size: {"adaptiveavgpool2d": {"output_size": size}}, ADAPTIVE),
    st.builds(lambda size: {"adaptivemaxpool2d": {"output_size": size}}, ADAPTIVE),
    _with("dropout", p=st.floats(0, 1), inplace=st.booleans()),
    # The normalisation, resampling, padding and activation kinds of every rank, here on images.
    _with("elu", alpha=st.floats(0.1, 2), inplace=st.booleans()),
    _with("celu", alpha=st.floats(0.1, 2)),
    _with("hardtanh", min_val=st.floats(-2, 0), max_val=st.floats(0.5, 2)),
    _with("softplus", beta=st.floats(0.5, 2), threshold=st.floats(1, 20)),
    st.sampled_from(["selu", "mish", "prelu", "dropout2d", "alphadropout", "layernorm2d", "scale"]),
    st.builds(
        lambda kind, dim: {kind: {"dim": dim}},
        st.sampled_from(["softmax", "logsoftmax"]),
        st.sampled_from([1, 2, -1]),
    ),
    _with("instancenorm2d", affine=st.booleans(), track_running_stats=st.booleans()),
    st.builds(
        lambda groups, affine: {"groupnorm": {"num_groups": groups, "affine": affine}},
        st.sampled_from([1, 2]),
        st.booleans(),
    ),
    st.builds(lambda size: {"localresponsenorm": {"size": size}}, st.integers(1, 5)),
    st.one_of(
        st.builds(lambda s: {"upsample": {"scale_factor": s}}, st.sampled_from([0.5, 1.5, 2, [2, 1]])),
        st.builds(
            lambda mode, size, corners: {"upsample": {"size": size, "mode": mode, "align_corners": corners}},
            st.sampled_from(["bilinear", "bicubic"]),
            st.one_of(small, st.lists(small, min_size=2, max_size=2)),
            st.one_of(st.none(), st.booleans()),
        ),
    ),
    st.builds(lambda r: {"pixelshuffle": {"upscale_factor": r}}, st.integers(1, 2)),
    st.builds(lambda r: {"pixelunshuffle": {"downscale_factor": r}}, st.integers(1, 2)),
    st.builds(
        lambda mode, padding: {f"{mode}pad2d": {"padding": padding}},
        st.sampled_from(["zero", "reflection", "replication", "circular"]),
        st.one_of(st.integers(0, 2), st.lists(st.integers(-1, 2), min_size=4, max_size=4)),
    ),
    # Views: a run of one dimension (never the batch's), each sample regrouped into another image
    # (sizes that do not fit are refused by both, as they must be).
    st.builds(
        lambda dim, start, length: {"narrow": {"dim": dim, "start": start, "length": length}},
        st.sampled_from([1, 2, 3, -1, -2, -3]),
        st.integers(-3, 3),
        st.integers(1, 4),
    ),
    st.builds(
        lambda sizes: {"reshape": {"shape": sizes}},
        st.lists(st.sampled_from([1, 2, 3, 4, 6, -1]), min_size=3, max_size=3),
    ),
)
HEAD = st.lists(
    st.one_of(
        st.builds(
            lambda n, bias: {"linear": {"out_features": n, "bias": bias}}, st.integers(1, 12), st.booleans()
        ),
        st.just("relu"),
        _with("dropout", p=st.floats(0, 1)),
    ),
    max_size=3,
)
#: Flatten with its optional dimensions (start 1, end -1 makes the usual classifier input).
FLATTEN = _with("flatten", start_dim=st.integers(1, 3), end_dim=st.integers(-3, 3))


class _LayerNorm2d(torch.nn.Module):
    """torchvision's LayerNorm2d written out: LayerNorm over channels moved last."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return out


class _Scale(torch.nn.Module):
    """A learnable per-channel multiply written out."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


class _Function(torch.nn.Module):
    """A torch function of the input as a module."""

    def __init__(self, function: Any) -> None:
        super().__init__()
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.function(x)
        return out


#: Kinds torch.nn has no class of that name for, built from the channels they see.
CHANNEL_MODULES: dict[str, Any] = {"layernorm2d": _LayerNorm2d, "scale": _Scale}
#: Kinds that are torch functions, built from their arguments.
FUNCTIONS: dict[str, Any] = {
    "narrow": lambda a: _Function(lambda x: torch.narrow(x, a["dim"], a["start"], a["length"])),
    "reshape": lambda a: _Function(lambda x: x.reshape(x.shape[0], *a["shape"])),
}


def torch_accepts(spec_layers: list[Any], in_shape: tuple[int, ...], batch: int) -> bool:
    """Build the stack with torch.nn directly (not convprof's builders) and run it on meta."""
    modules: list[torch.nn.Module] = []
    channels = in_shape[0]
    x = torch.empty((batch, *in_shape), device="meta")
    try:
        with torch.device("meta"):
            for layer in spec_layers:
                kind, args = (layer, {}) if isinstance(layer, str) else next(iter(layer.items()))
                args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
                if kind == "conv2d":
                    module: torch.nn.Module = torch.nn.Conv2d(channels, **args)
                elif kind == "batchnorm2d":
                    module = torch.nn.BatchNorm2d(x.shape[1], **args)
                elif kind == "linear":
                    module = torch.nn.Linear(x.shape[-1], **args)
                elif kind == "instancenorm2d":
                    module = torch.nn.InstanceNorm2d(x.shape[1], **args)
                elif kind == "groupnorm":
                    module = torch.nn.GroupNorm(args.pop("num_groups"), x.shape[1], **args)
                elif kind in CHANNEL_MODULES:
                    module = CHANNEL_MODULES[kind](x.shape[1])
                elif kind in FUNCTIONS:
                    module = FUNCTIONS[kind](args)
                else:
                    names = {k.__name__.lower(): k for k in vars(torch.nn).values() if isinstance(k, type)}
                    module = names[kind](**args)
                needs_image = kind in ("conv2d", "batchnorm2d") or "pool" in kind
                if needs_image and x.dim() != 4:
                    return False
                x = module.eval()(x)  # convprof counts inference
                if not x.numel():  # an empty tensor: convprof refuses the layer that makes one
                    return False
                modules.append(module)
                channels = x.shape[1] if x.dim() > 1 else channels
    except (RuntimeError, ValueError, IndexError):  # IndexError: torch.narrow past the end
        return False
    return True


@FUZZ
@given(
    channels=st.integers(1, 4),
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    body=st.lists(LAYER, min_size=1, max_size=5),
    flatten=st.one_of(st.none(), FLATTEN),
    head=HEAD,
    batch=st.integers(1, 3),
)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_random_stacks_match_torch(
    channels: int, height: int, width: int, body: list[Any], flatten: Any, head: list[Any], batch: int
) -> None:
    layers = body + ([flatten, *head] if flatten is not None else [])
    in_shape = (channels, height, width)
    try:
        spec = make_spec(in_shape, layers, batch_size=batch)
        report = analyze(spec)
    except SpecError:
        assert not torch_accepts(layers, in_shape, batch), f"convprof refused a stack torch runs: {layers}"
        return
    assert torch_accepts(layers, in_shape, batch), f"convprof accepted a stack torch refuses: {layers}"
    for variant in VARIANTS:
        model = build_model(spec, variant, "meta")
        with FlopCounterMode(display=False) as counter:
            y = model(torch.empty((batch, *in_shape), device="meta"))
        counted = report.variant(variant)
        assert tuple(y.shape[1:]) == spec.output
        assert sum(p.numel() for p in model.parameters()) == counted.params
        assert sum(b.numel() * b.element_size() for b in model.buffers()) == counted.buffer_bytes
        assert counter.get_total_flops() == counted.flops


def ranked_layer(rank: int) -> st.SearchStrategy[Any]:
    """Any convolution (transposed too) or pool of `rank` spatial dimensions, with random arguments."""
    sizes = st.one_of(small, st.lists(small, min_size=rank, max_size=rank))
    window = {"stride": st.one_of(st.none(), sizes), "ceil_mode": st.booleans()}
    conv = st.fixed_dictionaries(
        {"out_channels": st.sampled_from([1, 2, 4]), "kernel_size": sizes},
        optional={
            "stride": sizes,
            "padding": st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"])),
            "dilation": st.integers(1, 2),
            "groups": st.sampled_from([1, 2]),
            "bias": st.booleans(),
            "padding_mode": st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
        },
    )
    transposed = st.fixed_dictionaries(
        {"out_channels": st.sampled_from([1, 2, 4]), "kernel_size": sizes},
        optional={
            "stride": sizes,
            "padding": st.integers(0, 2),
            "output_padding": st.integers(0, 1),
            "dilation": st.integers(1, 2),
            "groups": st.sampled_from([1, 2]),
            "bias": st.booleans(),
        },
    )
    maxpool = st.fixed_dictionaries(
        {"kernel_size": sizes},
        optional={**window, "padding": st.integers(0, 1), "dilation": st.integers(1, 2)},
    )
    avgpool = st.fixed_dictionaries(
        {"kernel_size": sizes},
        optional={**window, "padding": st.integers(0, 1), "count_include_pad": st.booleans()},
    )
    lppool = st.fixed_dictionaries(
        {"norm_type": st.sampled_from([1, 2, 3.5]), "kernel_size": sizes}, optional=window
    )
    adaptive = st.one_of(small, st.lists(small, min_size=rank, max_size=rank))
    return st.one_of(
        conv.map(lambda a: {f"conv{rank}d": a}),
        transposed.map(lambda a: {f"convtranspose{rank}d": a}),
        maxpool.map(lambda a: {f"maxpool{rank}d": a}),
        avgpool.map(lambda a: {f"avgpool{rank}d": a}),
        lppool.map(lambda a: {f"lppool{rank}d": a}),
        adaptive.map(lambda size: {f"adaptiveavgpool{rank}d": {"output_size": size}}),
        adaptive.map(lambda size: {f"adaptivemaxpool{rank}d": {"output_size": size}}),
        st.sampled_from(["relu", "sigmoid"]),
    )


#: torch.nn's classes by lower-case name, for building random stacks directly.
TORCH_KINDS = {k.__name__.lower(): k for k in vars(torch.nn).values() if isinstance(k, type)}


def torch_runs_on_cpu(spec_layers: list[Any], in_shape: tuple[int, ...], batch: int) -> bool:
    """Run the stack with torch.nn directly on the CPU, whose kernels check what meta does not.

    An empty output counts as refused, as convprof refuses it (docs/spec-format.md, "Stricter than torch").
    """
    x = torch.zeros((batch, *in_shape))
    try:
        for layer in spec_layers:
            kind, args = (layer, {}) if isinstance(layer, str) else next(iter(layer.items()))
            args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
            if kind.startswith("lppool1d"):  # torch's lp_pool1d needs int sizes
                args = {k: v[0] if isinstance(v, tuple) else v for k, v in args.items()}
            cls = TORCH_KINDS[kind]
            module = cls(x.shape[1], **args) if kind.startswith("conv") else cls(**args)
            x = module.eval()(x)
            if x.numel() == 0:
                return False
    except (RuntimeError, ValueError):
        return False
    return True


@FUZZ
@given(
    data=st.data(),
    rank=st.sampled_from([1, 2, 3]),
    channels=st.sampled_from([2, 4]),
    batch=st.integers(1, 2),
)
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_random_stacks_of_every_rank_match_torch(
    data: st.DataObject, rank: int, channels: int, batch: int
) -> None:
    """1-D, 2-D and 3-D stacks of convolutions, transposed convolutions and pools, in every variant."""
    sides = data.draw(st.lists(st.integers(1, 7 if rank < 3 else 5), min_size=rank, max_size=rank))
    layers = data.draw(st.lists(ranked_layer(rank), min_size=1, max_size=3))
    in_shape = (channels, *sides)
    try:
        spec = make_spec(in_shape, layers, batch_size=batch)
        report = analyze(spec)
    except SpecError:
        assert not torch_runs_on_cpu(layers, in_shape, batch), (
            f"convprof refused a stack torch runs: {layers}"
        )
        return
    assert torch_runs_on_cpu(layers, in_shape, batch), f"convprof accepted a stack torch refuses: {layers}"
    for variant in VARIANTS:
        model = build_model(spec, variant, "meta")
        with FlopCounterMode(display=False) as counter:
            y = model(torch.empty((batch, *in_shape), device="meta"))
        counted = report.variant(variant)
        assert tuple(y.shape[1:]) == spec.output
        assert sum(p.numel() for p in model.parameters()) == counted.params
        assert counter.get_total_flops() == counted.flops


def _valid_document() -> dict[str, Any]:
    return {
        "name": "net",
        "input": [3, 16, 16],
        "batch_size": 2,
        "layers": [
            {"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}},
            "relu",
            {"maxpool2d": {"kernel_size": 2}},
            "flatten",
            {"linear": {"out_features": 10}},
        ],
    }


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(-3, 3), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def broken_documents(draw: st.DrawFn) -> bytes:
    """Valid YAML with a wrong type or value, an unknown key, a truncation, or random bytes."""
    document = _valid_document()
    how = draw(st.sampled_from(["value", "top-key", "layer-key", "truncate", "bytes"]))
    if how == "value":
        path = draw(
            st.sampled_from(
                [
                    ("input",),
                    ("batch_size",),
                    ("name",),
                    ("layers", 0, "conv2d", "out_channels"),
                    ("layers", 0, "conv2d", "kernel_size"),
                    ("layers", 0, "conv2d", "padding"),
                    ("layers", 2, "maxpool2d", "kernel_size"),
                    ("layers", 4, "linear", "out_features"),
                    ("layers", 4, "linear", "bias"),
                    ("layers", 1),
                    ("layers",),
                ]
            )
        )
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = draw(JUNK)
    elif how == "top-key":
        document[draw(st.text(min_size=1, max_size=6).filter(lambda k: k not in document))] = 1
    elif how == "layer-key":
        document["layers"][0]["conv2d"][draw(st.sampled_from(["kernal_size", "in_channels", "strides"]))] = 1
    text = json.dumps(document).encode()
    if how == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    if how == "bytes":
        return draw(st.binary(max_size=64))
    return text


POSITIONED = re.compile(r"^convprof: error: (?P<path>.+?):(?P<line>\d+):(?P<column>\d+): \S")


#: Every command that reads a spec, with the spec's place in its arguments.
SPEC_COMMANDS = {
    "compare": ["compare", "{spec}", "--no-latency", "--format", "json"],
    "check": ["check", "{spec}", "--max-params", "1G"],
    "sweep": ["sweep", "{spec}", "--resolution", "16,32", "--format", "json"],
}
#: Every command that reads a saved report (`{broken}`), beside a good one where it takes two.
REPORT_COMMANDS = {
    "diff": ["diff", "{report}", "{broken}"],
    "merge": ["merge", "{broken}"],
    "check": ["check", "{spec}", "--baseline", "{broken}", "--max-growth", "params=0%"],
}


def _parses(spec: Path) -> bool:
    try:
        load_spec(str(spec))
    except SpecError:
        return False
    return True


@pytest.mark.slow
@FUZZ
@given(content=broken_documents(), command=st.sampled_from(sorted(SPEC_COMMANDS)))
def test_broken_specs_exit_2_with_one_positioned_line(content: bytes, command: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(content)
    args = [arg.format(spec=spec) for arg in SPEC_COMMANDS[command]]
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if _parses(spec):  # a mutation can leave a valid spec; the command then runs as usual
        assert result.exit_code in (0, 1, 2), result.output
        return
    assert result.exit_code == 2, (command, content, result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    match = POSITIONED.match(lines[0])
    assert match, lines[0]
    assert match["path"] == str(spec)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document, the root excluded."""
    children: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    found = []
    for key, child in children:
        found.append((*path, key))
        found.extend(_paths(child, (*path, key)))
    return found


@st.composite
def broken_reports(draw: st.DrawFn, report: dict[str, Any]) -> bytes:
    """A saved report edited by hand or cut short: a wrong value, a lost or extra key, bytes."""
    how = draw(st.sampled_from(["value", "delete", "extra", "truncate", "bytes"]))
    if how == "bytes":
        return draw(st.binary(max_size=64))
    document = json.loads(json.dumps(report))
    path = draw(st.sampled_from(_paths(document)))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if how == "value":
        parent[path[-1]] = draw(JUNK)
    elif how == "delete":
        del parent[path[-1]]
    elif how == "extra" and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=6))] = draw(JUNK)
    text = json.dumps(document, indent=1).encode()
    if how == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    return text


@functools.cache
def _report() -> dict[str, Any]:
    """A measured report (latency and environment included), so that every field can be broken;
    measured when a test first draws from it, not as the module is collected."""
    runner = CliRunner()
    result = runner.invoke(
        cli, ["compare", "why_convolutions", "--quick", "--device", "cpu", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@FUZZ
@given(
    content=st.deferred(lambda: broken_reports(_report())),
    command=st.sampled_from(sorted(REPORT_COMMANDS)),
)
def test_broken_reports_exit_2_with_one_positioned_line(content: bytes, command: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_bytes(content)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_report()), encoding="utf-8")
    args = [a.format(report=good, broken=broken, spec="why_convolutions") for a in REPORT_COMMANDS[command]]
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    try:
        valid = jsonschema.Draft202012Validator(report_schema()).is_valid(json.loads(content))
    except ValueError:  # not JSON, or not UTF-8
        valid = False
    if valid:  # still a report (say, a changed count): the command runs as usual
        assert result.exit_code in (0, 1, 2), result.output
        return
    assert result.exit_code == 2, (command, content, result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"convprof: error: {broken}:"), lines[0]
    assert re.match(rf"convprof: error: {re.escape(str(broken))}:\d+:\d+: ", lines[0]), lines[0]


@settings(max_examples=max(3, EXAMPLES // 20), deadline=None)
@given(content=broken_documents(), command=st.sampled_from(sorted(SPEC_COMMANDS)))
def test_broken_specs_in_real_processes(
    content: bytes, command: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    spec = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    spec.write_bytes(content)
    args = [arg.format(spec=spec) for arg in SPEC_COMMANDS[command]]
    process = subprocess.run([*CONVPROF, *args], capture_output=True, text=True, check=False)
    assert "Traceback" not in process.stderr
    if _parses(spec):
        assert process.returncode in (0, 1, 2), process.stderr
        return
    assert process.returncode == 2, process.stderr
    assert POSITIONED.match(process.stderr), process.stderr
    assert process.stderr.count("\n") == 1


def test_spec_text_helper_round_trips() -> None:
    text = spec_text((3, 8, 8), ["relu"])
    assert json.loads(text) == {"input": [3, 8, 8], "layers": ["relu"]}


# -- hostile numbers: at and past every limit, in every field of every command's input ---------------------

#: YAML scalars at and past each limit convprof sets or inherits: int64, 100-digit numbers, Python's
#: 4,300-digit conversion limit, float range, NaN and infinities, tags that fail to convert.
HOSTILE_SCALARS = st.sampled_from(
    [
        "0",
        "-1",
        "1",
        str(2**63 - 1),
        str(2**63),
        str(-(2**63)),
        "9" * 100,
        "9" * 101,
        "9" * 4301,
        "1.0e+308",
        "1.0e+309",
        "-1.0e+309",
        "1e400",
        "0." + "0" * 120 + "1",
        ".nan",
        ".inf",
        "-.inf",
        "!!int abc",
        "!!float abc",
        "!!int " + "9" * 5000,
        "0x7fffffffffffffff",
        "0x8000000000000000",
        "1_000",
        "~",
        "''",
        "[1, " + "9" * 200 + "]",
    ]
)


def _full_document() -> dict[str, Any]:
    """A valid spec that gives every field of every kind, and every budget but latency."""
    return {
        "name": "every-field",
        "input": [3, 16, 16],
        "batch_size": 2,
        "dtype": "float32",
        "layers": [
            {
                "conv2d": {
                    "out_channels": 4,
                    "kernel_size": [3, 3],
                    "stride": 1,
                    "padding": 1,
                    "dilation": 1,
                    "groups": 1,
                    "bias": True,
                }
            },
            {"batchnorm2d": {"eps": 0.00001, "momentum": 0.1, "affine": True, "track_running_stats": True}},
            {"leakyrelu": {"negative_slope": 0.01, "inplace": False}},
            {"maxpool2d": {"kernel_size": 2, "stride": 2, "padding": 0, "dilation": 1, "ceil_mode": False}},
            {
                "avgpool2d": {
                    "kernel_size": 1,
                    "stride": [1, 1],
                    "padding": 0,
                    "ceil_mode": False,
                    "count_include_pad": True,
                    "divisor_override": 1,
                }
            },
            {"adaptiveavgpool2d": {"output_size": 4}},
            {"adaptivemaxpool2d": {"output_size": [4, 4]}},
            {"dropout": {"p": 0.5, "inplace": False}},
            {"gelu": {"approximate": "none"}},
            {"flatten": {"start_dim": 1, "end_dim": -1}},
            {"linear": {"out_features": 10, "bias": True}},
        ],
        "budgets": {"params": 10**9, "macs": "1G", "flops": "2G", "param_bytes": "4MiB"},
    }


FULL_DOCUMENT = _full_document()
_PLACEHOLDER = "@@hostile@@"


def _with_raw(document: Any, path: tuple[Any, ...], raw: str) -> str:
    """Return `document` as JSON text with the value at `path` replaced by the raw text `raw`."""
    document = json.loads(json.dumps(document))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = _PLACEHOLDER
    return json.dumps(document, indent=1).replace(json.dumps(_PLACEHOLDER), raw)


def _assert_one_line_or_success(code: int, stdout: str, stderr: str) -> None:
    assert code in (0, 1, 2), stderr
    assert "Traceback" not in stderr
    if code == 2:
        lines = stderr.splitlines()
        assert len(lines) == 1, stderr
        assert lines[0].startswith("convprof: error: "), stderr
        assert len(lines[0]) < 1000, lines[0][:200]  # values are quoted cut short
        assert stdout == ""


@FUZZ
@given(
    path=st.sampled_from(_paths(FULL_DOCUMENT)),
    scalar=HOSTILE_SCALARS,
    command=st.sampled_from(sorted(SPEC_COMMANDS)),
)
def test_hostile_numbers_in_any_spec_field_end_cleanly(
    path: tuple[Any, ...], scalar: str, command: str, tmp_path: Path
) -> None:
    text = _with_raw(FULL_DOCUMENT, path, scalar)
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    args = [arg.format(spec=spec) for arg in SPEC_COMMANDS[command]]
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (text, result.exception)
    _assert_one_line_or_success(result.exit_code, result.stdout, result.stderr)
    if result.exit_code == 2 and not _parses(spec):
        assert POSITIONED.match(result.stderr), result.stderr


#: Command-line numbers at and past each limit: 30-digit quantities, int64, float range, Python's digits.
HOSTILE_TEXT = st.one_of(
    st.sampled_from(
        [
            "9" * 30,
            "9" * 31,
            "9" * 4301,
            "1" + "0" * 400,
            str(2**63 - 1),
            str(2**63),
            "1e300",
            "1e400",
            "nan",
            "inf",
            "-1",
            "0",
            "0.5",
        ]
    ),
    st.builds(
        lambda digits, unit: digits + unit,
        st.text("0123456789", min_size=1, max_size=60),
        st.sampled_from(["", "k", "G", "P", "KiB", "GiB", "ms", "s", "%", "x"]),
    ),
)
#: Every option that reads a number given on the command line, with where the number goes.
NUMBER_OPTIONS = [
    ["check", "lenet5", "--max-params", "{n}"],
    ["check", "lenet5", "--max-macs", "{n}"],
    ["check", "lenet5", "--max-flops", "{n}"],
    ["check", "lenet5", "--max-param-bytes", "{n}"],
    ["check", "lenet5", "--max-activation-bytes", "{n}"],
    ["check", "lenet5", "--max-training-bytes", "{n}"],
    ["check", "lenet5", "--max-latency", "cuda={n}", "--max-params", "1G"],
    ["sweep", "lenet5", "--batch-size", "1,{n}", "--format", "json"],
    ["sweep", "lenet5", "--resolution", "{n}", "--format", "json"],
    ["sweep", "lenet5", "--resolution", "32x{n}", "--format", "json"],
    ["sweep", "lenet5", "--width", "{n}", "--format", "json"],
    ["sweep", "lenet5", "--set", "layers.0.conv2d.out_channels={n}", "--format", "json"],
    ["sweep", "lenet5", "--set", "batch_size=1,{n}", "--format", "json"],
]


@FUZZ
@given(number=HOSTILE_TEXT, option=st.sampled_from(NUMBER_OPTIONS))
def test_hostile_numbers_on_the_command_line_end_cleanly(number: str, option: list[str]) -> None:
    if "cuda=" in option[3] and not torch.cuda.is_available():
        option = [*option[:3], option[3].replace("cuda=", "cpu="), *option[4:]]
        # A latency limit that parses would measure: keep to values refused before measuring.
        if number.isdigit() and 0 < len(number.lstrip("0")) <= 30:
            return
    args = [part.format(n=number) for part in option]
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    _assert_one_line_or_success(result.exit_code, result.stdout, result.stderr)


#: JSON texts no convprof report holds: non-finite numbers, over-long integers, lone surrogates, depth.
HOSTILE_JSON = st.sampled_from(
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",
        "-1e999",
        "9" * 101,
        "9" * 5000,
        '"\\ud800"',
        '"x\\udfffy"',
        '{"\\ud800": 1}',
        "[" * 65 + "]" * 65,
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 70 + "1" + "}" * 70,
    ]
)


@FUZZ
@given(
    path=st.deferred(lambda: st.sampled_from(_paths(_report()))),
    value=HOSTILE_JSON,
    command=st.sampled_from(sorted(REPORT_COMMANDS)),
)
def test_hostile_values_in_any_report_field_exit_2_located(
    path: tuple[Any, ...], value: str, command: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(_with_raw(_report(), path, value), encoding="utf-8")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_report()), encoding="utf-8")
    args = [a.format(report=good, broken=broken, spec="why_convolutions") for a in REPORT_COMMANDS[command]]
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, (path, value[:40], result.output)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert re.match(rf"convprof: error: {re.escape(str(broken))}:\d+:\d+: ", lines[0]), lines[0]


@settings(
    max_examples=max(5, EXAMPLES // 6),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    dims=st.lists(st.sampled_from([1, 2, 2**20, 2**31, 2**62, 2**63 - 1]), min_size=3, max_size=3),
    output=st.sampled_from([1, 7, 10**7, 2**62, 2**63 - 1]),
    batch=st.sampled_from([1, 2**63 - 1]),
)
def test_specs_at_the_limits_count_and_their_reports_read_back(
    dims: list[int], output: int, batch: int, tmp_path: Path
) -> None:
    """Whatever a spec's sizes, counting is closed-form and the report it writes reads back."""
    layers = [
        {"conv2d": {"out_channels": 1, "kernel_size": 1}},
        {"adaptiveavgpool2d": {"output_size": [output, 1]}},
        {"flatten": {"start_dim": 2}},
        {"linear": {"out_features": 2**31}},
    ]
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(tuple(dims), layers, batch_size=batch), encoding="utf-8")
    report = tmp_path / "report.json"
    runner = CliRunner()
    result = runner.invoke(cli, ["compare", str(spec), "--no-latency", "--format", "json", "-o", str(report)])
    _assert_one_line_or_success(result.exit_code, result.stdout, result.stderr)
    if result.exit_code != 0:
        assert "more than torch can index" in result.stderr, result.stderr
        return
    again = runner.invoke(cli, ["diff", str(report), str(report), "--format", "json"])
    assert again.exit_code == 0, again.output

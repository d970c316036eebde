"""`--allow-unknown`: ops convprof cannot count kept as opaque nodes, and every total over them a lower bound.

The model is a small CNN with a cumulative sum, a custom einsum over a weight it reads
twice, and an nn.MultiheadAttention (tests/importable_models.py:AttentionCNN). Its known parts are
checked against torch itself: parameters and buffers against the model's tensors, MACs against
FlopCounterMode's counts of the layers convprof knows.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest
import torch
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import convprof
from convprof.ci.budgets import GrowthCheck, LimitCheck
from convprof.ci.diff import diff_reports
from convprof.cli import cli
from convprof.graph.parse import parse_spec
from convprof.graph.variants import VARIANTS
from convprof.importing import ImportResult, ModelImportError, UnusedParameters, import_module
from convprof.render.checks import checks_json
from convprof.render.schemas import SCHEMAS
from convprof.report import Report
from convprof.report.analyze import analyze
from convprof.report.reportfile import load_report
from tests import importable_models as models
from tests.conftest import ROOT
from tests.processes import CONVPROF
from tests.test_fuzz import (
    FUZZ,
    HOSTILE_SCALARS,
    POSITIONED,
    SPEC_COMMANDS,
    _assert_one_line_or_success,
    _paths,
    _with_raw,
)

MODELS_FILE = "tests/importable_models.py"


def _line_of(code: str) -> int:
    """Return the line of tests/importable_models.py that starts with `code` (once)."""
    lines = (ROOT / MODELS_FILE).read_text(encoding="utf-8").splitlines()
    (number,) = [n for n, line in enumerate(lines, start=1) if line.strip().startswith(code)]
    return number


REF = f"{MODELS_FILE}:AttentionCNN"
SHAPE = (3, 8, 8)
#: The opaque nodes of AttentionCNN, in graph order: path and op.
OPAQUE = [
    ("cumsum", "torch.cumsum"),
    ("mixer.einsum", "torch.einsum"),
    ("mixer.einsum_1", "torch.einsum"),
    ("attn", "torch.nn.MultiheadAttention"),
]
#: Every total over an opaque op: its arithmetic, and what its backward keeps and allocates, are
#: unknown; with parameters of its own, so is how they split into tensors (Adam's step counts).
LOWER_BOUNDS = (
    "macs",
    "flops",
    "backward_flops",
    "training_flops",
    "elementwise_ops",
    "saved_activation_bytes",
    "optimizer_bytes",
    "training_bytes",
)
#: The same for opaque ops without parameters: the optimizer's state is then exact.
LOWER_BOUNDS_WITHOUT_PARAMETERS = tuple(total for total in LOWER_BOUNDS if total != "optimizer_bytes")


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONVPROF, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _invoke(*args: str) -> tuple[int, str, str]:
    # A wide terminal whatever runs the suite: the table's layout follows the width.
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def model() -> models.AttentionCNN:
    torch.manual_seed(0)
    return models.AttentionCNN().eval()


@pytest.fixture(scope="module")
def imported(model: models.AttentionCNN) -> ImportResult:
    return import_module(model, SHAPE, name="attention_cnn", allow_unknown=True)


@pytest.fixture(scope="module")
def saved(imported: ImportResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The imported spec as a file, as CI keeps it."""
    path = tmp_path_factory.mktemp("spec") / "attention_cnn.yaml"
    path.write_text(imported.text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def report_file(saved: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "attention_cnn.json"
    code, _, err = _invoke("compare", str(saved), "--no-latency", "--format", "json", "-o", str(out))
    assert code == 0, err
    return out


# -- importing -----------------------------------------------------------------------------------------


def test_without_allow_unknown_the_import_ends_with_exit_2_and_one_line_listing_each_op(
    tmp_path: Path,
) -> None:
    target = tmp_path / "net.yaml"
    result = _run("import", REF, "--input", "3x8x8", "-o", str(target))
    assert result.returncode == 2
    assert result.stdout == ""
    einsum = _line_of('return torch.einsum("oc,ncl->nol", self.weight, t)')
    cumsum = _line_of("t = torch.cumsum(t, dim=-1)")
    heads = _line_of("t, _ = self.attn(t, t, t)")
    assert result.stderr == (
        "convprof: error: 4 ops convprof cannot count: 2 x torch.einsum (reads the module's tensor "
        f"mixer.weight directly) at mixer (importable_models.py:{einsum}); 1 x "
        f"torch.cumsum at <top> (importable_models.py:{cumsum}); "
        f"1 x torch.nn.MultiheadAttention at attn (importable_models.py:{heads}) (convprof counts only "
        "what its layer kinds can say exactly; --allow-unknown keeps an op whose result is one batched "
        "tensor as an opaque node, its counts unknown)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_with_allow_unknown_the_import_writes_the_spec_and_says_what_it_kept_opaque(tmp_path: Path) -> None:
    target = tmp_path / "net.yaml"
    result = _run("import", REF, "--input", "3x8x8", "--allow-unknown", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "convprof: note: aux is never called: its 387 parameters and 0 buffer elements are not in the spec",
        "convprof: note: 4 ops kept opaque (--allow-unknown): 2 x torch.einsum (reads the module's tensor "
        "mixer.weight directly) at mixer; 1 x torch.cumsum at <top>; "
        "1 x torch.nn.MultiheadAttention at attn; their MACs, FLOPs and element-wise ops are unknown, so "
        "those totals are lower bounds",
        f"convprof: wrote {target}",
    ]
    text = target.read_text(encoding="utf-8")
    assert "#   1 x torch.nn.MultiheadAttention at attn" in text
    assert (
        "  - opaque: {name: attn, op: torch.nn.MultiheadAttention, input_shapes: [[8, 16]], "
        "output_shape: [8, 16], params: 1088}"
    ) in text


def test_opaque_nodes_are_named_by_module_path_or_in_their_scope_and_hold_what_is_known(
    model: models.AttentionCNN, imported: ImportResult
) -> None:
    nodes = [node for node in imported.spec.nodes if node.kind == "Opaque"]
    assert [(node.path, node.args.op) for node in nodes] == OPAQUE
    shapes = {node.path: (node.args.input_shapes, node.args.output_shape) for node in nodes}
    assert shapes["cumsum"] == (((8, 16),), (8, 16))
    params = {node.path: node.args.params for node in nodes}
    # A module's own tensors; a weight two calls read directly, counted once, by the first.
    assert params == {
        "cumsum": 0,
        "mixer.einsum": model.mixer.weight.numel(),
        "mixer.einsum_1": 0,
        "attn": sum(p.numel() for p in model.attn.parameters()),
    }
    assert imported.unused == (UnusedParameters("aux", 387, 0),)


def test_known_counts_are_exact_and_the_arithmetic_totals_lower_bounds(
    model: models.AttentionCNN, imported: ImportResult
) -> None:
    report = analyze(imported.spec)
    batch = 1
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(batch, *SHAPE))
    flops = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    known = flops["AttentionCNN.conv"] + flops["AttentionCNN.fc"]  # the layers convprof counts
    conv = report.variant("conv")
    assert conv.params == sum(p.numel() for p in model.parameters()) - 387  # all but the unused head
    assert conv.buffer_bytes == sum(b.numel() * b.element_size() for b in model.buffers())
    assert conv.flops == known
    assert counter.get_total_flops() > conv.flops  # attention, einsum and projections left out
    for variant in report.variants:
        assert variant.unknown_ops == 4
        assert variant.lower_bounds == LOWER_BOUNDS
    rows = {layer.path: layer for layer in conv.layers}
    for path, _ in OPAQUE:
        row = rows[path]
        assert (row.macs, row.flops, row.elementwise_ops, row.fan_in) == (None, None, None, None)
        assert row.receptive_field is None  # full: unknown, at most the whole input
    assert rows["fc"].receptive_field is None  # and after an opaque op too


def test_an_opaque_node_is_the_same_in_every_variant(imported: ImportResult) -> None:
    report = analyze(imported.spec)
    for path, _ in OPAQUE:
        # A training step's moments are the whole step's memory, which the other layers' variants change.
        rows = {
            v.name: replace(
                next(layer for layer in v.layers if layer.path == path),
                step_forward_bytes=None,
                step_backward_bytes=None,
            )
            for v in report.variants
        }
        assert rows["dense"] == rows["local"] == rows["conv"]
        assert rows["conv"].kind == "Opaque"


def test_memory_stays_exact_with_an_opaque_output_a_new_tensor(imported: ImportResult) -> None:
    conv = analyze(imported.spec).variant("conv")
    input_bytes = 3 * 8 * 8 * 4
    # What the known layers keep for backward is counted; the opaque ops' own is unknown.
    rows = {layer.path: layer for layer in conv.layers}
    assert [rows[path].saved_bytes for path, _ in OPAQUE] == [None] * len(OPAQUE)
    known = sum(layer.saved_bytes or 0 for layer in conv.layers)
    # At least the input (the first conv keeps it) and what the known layers make and keep; the
    # opaque ops' outputs too where a known layer keeps them.
    assert conv.saved_activation_bytes >= input_bytes + known
    assert "saved_activation_bytes" in conv.lower_bounds
    assert conv.activation_bytes == max(  # conv's input and output are the largest pair alive
        input_bytes + 8 * 8 * 8 * 4, *(layer.activation_bytes * 2 for layer in conv.layers)
    )


def test_import_yaml_parse_gives_the_identical_report(imported: ImportResult, saved: Path) -> None:
    again = parse_spec(saved.read_bytes(), str(saved), "attention_cnn")
    assert analyze(again) == analyze(imported.spec)
    assert [(n.path, n.kind, n.args, n.inputs) for n in again.nodes] == [
        (n.path, n.kind, n.args, n.inputs) for n in imported.spec.nodes
    ]


def test_from_module_takes_allow_unknown(model: models.AttentionCNN) -> None:
    with pytest.raises(ModelImportError, match="4 ops convprof cannot count"):
        convprof.from_module(model, SHAPE)
    spec = convprof.from_module(model, SHAPE, allow_unknown=True)
    assert sum(node.kind == "Opaque" for node in spec.nodes) == 4


@pytest.mark.parametrize(
    ("factory", "shape", "message"),
    [
        (models.Sorted, (4, 8, 8), "1 x torch.sort (its result is not one tensor the model uses) at <top>"),
        (models.Recurrent, (5, 4), "1 x torch.nn.LSTM (its result is not one tensor the model uses) at rnn"),
        (models.Reduced, (3, 4, 4), "1 x Tensor.sum (changes the batch dimension) at <top>"),
        (models.BatchMixing, (3, 4, 4), "1 x Tensor.view (changes the batch dimension) at <top>"),
    ],
)
def test_what_no_opaque_node_can_stand_for_still_ends_the_import(
    factory: type[torch.nn.Module], shape: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ModelImportError) as failure:
        import_module(factory(), shape, allow_unknown=True)
    text = str(failure.value)
    assert text.startswith("1 op convprof cannot count, not even as opaque nodes: ")
    assert message in text
    assert "\n" not in text


def test_a_model_branching_on_values_still_ends_with_exit_2() -> None:
    result = _run("import", f"{MODELS_FILE}:Branching", "--input", "4x8", "--allow-unknown")
    assert result.returncode == 2
    assert result.stderr.startswith("convprof: error: Branching cannot run on tensors without data")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("factory", "shape", "opaque"),
    [
        (models.Indices, (3, 8, 8), ("pool", "torch.nn.MaxPool2d", 0)),  # values used, indices not
        (models.Shared, (4, 8, 8), ("conv_1", "torch.nn.Conv2d", 0)),  # weights counted by the first call
        (models.Shifted, (3, 8, 8), ("add", "operator.add", 6)),  # a parameter read directly
    ],
)
def test_the_other_unsupported_forms_become_opaque_with_their_tensors_counted_once(
    factory: type[torch.nn.Module], shape: tuple[int, ...], opaque: tuple[str, str, int]
) -> None:
    model = factory()
    spec = convprof.from_module(model, shape, allow_unknown=True)
    (node,) = [node for node in spec.nodes if node.kind == "Opaque"]
    assert (node.path, node.args.op, node.args.params) == opaque
    assert analyze(spec).variant("conv").params == sum(p.numel() for p in model.parameters())


def test_allow_unknown_is_for_a_model_reference() -> None:
    code, _, err = _invoke("compare", "lenet5", "--no-latency", "--allow-unknown")
    assert code == 2
    assert "--allow-unknown is for a model reference" in err


def test_compare_and_check_take_allow_unknown_with_a_reference() -> None:
    code, out, err = _invoke(
        "compare", REF, "--input", "3x8x8", "--allow-unknown", "--no-latency", "--format", "json"
    )
    assert code == 0, err
    assert "convprof: note: 4 ops kept opaque (--allow-unknown)" in err
    assert json.loads(out)["variants"]["conv"]["unknown_ops"] == 4
    code, out, _ = _invoke("check", REF, "--input", "3x8x8", "--allow-unknown", "--max-params", "10")
    assert code == 1
    code, _, err = _invoke("check", REF, "--input", "3x8x8", "--max-params", "10")
    assert code == 2
    assert "4 ops convprof cannot count" in err


# -- reports -------------------------------------------------------------------------------------------


def test_json_marks_unknowns_null_and_lists_the_lower_bounds(report_file: Path) -> None:
    data = json.loads(report_file.read_text(encoding="utf-8"))
    assert data["schema_version"] == 4
    for variant in data["variants"].values():
        assert (variant["unknown_ops"], variant["lower_bounds"]) == (4, list(LOWER_BOUNDS))
        keys = list(variant)
        assert keys.index("training_bytes") + 1 == keys.index("unknown_ops")
        layers = {layer["path"]: layer for layer in variant["layers"]}
        for path, _ in OPAQUE:
            layer = layers[path]
            assert [layer[key] for key in ("macs", "flops", "elementwise_ops", "fan_in")] == [None] * 4
            assert layer["receptive_field"] is None
        known = [layer["macs"] for layer in variant["layers"] if layer["macs"] is not None]
        assert variant["macs"] == sum(known)


def test_the_report_validates_against_the_schema_and_reads_back_as_the_same_report(
    report_file: Path, saved: Path
) -> None:
    schema = json.loads(_invoke("schema")[1])
    data = json.loads(report_file.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert Report.from_dict(data) == analyze(parse_spec(saved.read_bytes(), str(saved), "attention_cnn"))
    assert load_report(report_file) == Report.from_dict(data)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda v: v.pop("unknown_ops"), "variants.dense.unknown_ops: missing, but the layers' unknown"),
        (lambda v: v.update(lower_bounds=["macs"]), 'variants.dense.lower_bounds: ["macs"], but the layers'),
        # A layer without MACs marked unknown: the sums still hold, the count of unknowns does not.
        (
            lambda v: next(layer for layer in v["layers"] if layer["macs"] == 0).update(
                macs=None, flops=None
            ),
            "variants.dense.unknown_ops: 4, but",
        ),
    ],
)
def test_markers_that_contradict_the_layers_are_refused(
    report_file: Path, tmp_path: Path, edit: object, message: str
) -> None:
    data = json.loads(report_file.read_text(encoding="utf-8"))
    edit(data["variants"]["dense"])  # type: ignore[operator]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data, indent=1), encoding="utf-8")
    code, _, err = _invoke("diff", str(bad), str(report_file))
    assert code == 2
    assert message in err, err
    assert err.count("\n") == 1


def test_the_table_marks_lower_bounds_and_unknown_cells(saved: Path) -> None:
    code, out, _ = _invoke("compare", str(saved), "--no-latency")
    assert code == 0
    text = " ".join(out.split())
    assert "conv 2.68 k 1.00x >=15.10 k 1.00x >=30.21 k" in text
    assert "dense 101.27 k 37.8x >=99.58 k <=6.59x >=199.17 k" in text  # a bounded ratio
    assert "Element-wise ops (not MACs): >=" in text
    assert "4 opaque ops, their parameters counted, stay as written in every variant." in text
    assert (
        "Lower bounds (>=): 4 opaque ops (cumsum, mixer.einsum, mixer.einsum_1, attn) convprof cannot count"
    ) in text
    assert "receptive fields at and after it read full: unknown, at most the whole input" in text
    rows = {line.split()[1]: line.split() for line in out.splitlines() if line[:3].strip().isdigit()}
    assert rows["attn"][2:] == [
        *("opaque", "8x16", "1.09", "k", "unknown", "512", "B"),
        *("unknown", "full", "unknown"),  # what it keeps for backward, its field, its fan-in
    ]
    (mixer,) = [line.split() for line in out.splitlines() if line.split()[:1] == ["mixer"]]
    # A block's MACs: the sum of what is counted (the add's 0), at least.
    assert mixer[1:] == ["3", "layers", "8x16", "64", ">=0", ">=0", "B", "full"]
    code, out, _ = _invoke("compare", str(saved), "--no-latency", "--depth", "0")
    (mixer,) = [line.split() for line in out.splitlines() if line.split()[:1] == ["mixer"]]
    assert mixer[5] == ">=0"


def test_a_block_with_known_and_unknown_layers_sums_to_a_lower_bound(tmp_path: Path) -> None:
    spec = tmp_path / "block.yaml"
    spec.write_text(
        "input: [4, 6]\nlayers:\n  - group:\n      name: body\n      layers:\n"
        "        - linear: {out_features: 6}\n"
        "        - opaque: {op: my.op, input_shapes: [[4, 6]], output_shape: [4, 6]}\n",
        encoding="utf-8",
    )
    code, out, _ = _invoke("compare", str(spec), "--no-latency", "--format", "markdown")
    assert code == 0
    assert "|  | body | 2 layers | 4x6 | 42 | >=144 |" in out
    assert (
        "| 1 | \u00a0\u00a0opaque_1 | opaque | 4x6 | 0 | unknown | 96 B | unknown | full | unknown |" in out
    )


def test_markdown_and_csv_mark_them_too(saved: Path) -> None:
    code, out, _ = _invoke("compare", str(saved), "--no-latency", "--format", "markdown")
    assert code == 0
    assert "| conv | 2.68 k | 1.00x | >=15.10 k | 1.00x | >=30.21 k |" in out
    assert "- Lower bounds (>=): 4 opaque ops" in out
    code, out, _ = _invoke("compare", str(saved), "--no-latency", "--format", "csv")
    rows = [line.split(",") for line in out.splitlines()]
    assert rows[0][2:9] == [
        "params",
        "trainable_params",
        "frozen_params",
        "macs",
        "flops",
        "backward_flops",
        "training_flops",
    ]
    assert rows[3][:8] == ["attention_cnn", "conv", "2682", "2682", "0", ">=15104", ">=30208", rows[3][7]]
    assert rows[3][7].startswith(">=")
    code, out, _ = _invoke("compare", str(saved), "--no-latency", "--format", "csv", "--layers")
    header = out.splitlines()[0].split(",")
    (attn,) = [
        dict(zip(header, line.split(","), strict=True))
        for line in out.splitlines()
        if ",conv,9,attn," in line
    ]
    assert [attn[key] for key in ("macs", "flops", "elementwise_ops", "fan_in")] == ["unknown"] * 4
    assert attn["receptive_field"] == "full"


# -- a saved spec with opaque nodes is data ------------------------------------------------------------

BAD_NODES = [
    ("op: 5, input_shapes: [[4]], output_shape: [4]", "3:18: opaque op: expected a string"),
    ("op: '', input_shapes: [[4]], output_shape: [4]", "3:18: opaque op: expected an op's name"),
    ("op: a, input_shapes: [[4]], output_shape: [0]", "opaque output_shape: expected a positive integer"),
    ("op: a, input_shapes: [[4]], output_shape: 4", "opaque output_shape: expected a shape"),
    ("op: a, input_shapes: [], output_shape: [4]", "opaque input_shapes: expected a non-empty list"),
    ("op: a, input_shapes: [[5]], output_shape: [4]", "opaque: a was imported reading 5 and here reads 4"),
    ("op: a, input_shapes: [[4], [4]], output_shape: [4]", "imported reading 4, 4 and here reads 4"),
    ("op: a, input_shapes: [[4]], output_shape: [4], params: -1", "opaque params: expected a non-negative"),
    ("op: a, input_shapes: [[4]], output_shape: [4], macs: 3", "unknown argument 'macs' for opaque"),
    ("op: a, output_shape: [4]", "opaque needs input_shapes"),
    ("op: a, input_shapes: [[4]], output_shape: [99999999999, 99999999999]", "more than torch can index"),
]


@pytest.mark.parametrize(("fields", "message"), BAD_NODES)
def test_a_hand_written_opaque_node_with_nonsense_gets_one_located_line(
    tmp_path: Path, fields: str, message: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"input: [4]\nlayers:\n  - opaque: {{{fields}}}\n", encoding="utf-8")
    code, out, err = _invoke("compare", str(spec), "--no-latency")
    assert code == 2
    assert out == ""
    assert err.startswith(f"convprof: error: {spec}:3:")
    assert message in err, err
    assert err.count("\n") == 1


def test_a_hand_written_opaque_spec_counts_without_torch_and_budgets_its_exact_parts(tmp_path: Path) -> None:
    spec = tmp_path / "hand.yaml"
    spec.write_text(
        "input: [4, 6]\nlayers:\n  - linear: {out_features: 6}\n"
        "  - opaque: {op: custom.attention, input_shapes: [[4, 6]], output_shape: [4, 6], params: 10, "
        "buffers: 3, fixed_buffer_bytes: 8}\n"
        "budgets: {params: 52, param_bytes: 208}\n",
        encoding="utf-8",
    )
    report = analyze(parse_spec(spec.read_bytes(), str(spec), "hand"))
    conv = report.variant("conv")
    assert (conv.params, conv.buffer_bytes, conv.macs) == (42 + 10, 3 * 4 + 8, 144)
    assert conv.lower_bounds == LOWER_BOUNDS
    assert _invoke("check", str(spec))[0] == 0  # parameters and bytes stay exact: verified


# -- measuring -------------------------------------------------------------------------------------------


def test_measuring_skips_every_variant_with_the_reason_and_merge_reads_the_reports(
    saved: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    result = _run("compare", str(saved), "--preset", "quick", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    reason = (
        "not built: cumsum, mixer.einsum, mixer.einsum_1 and 1 more (opaque): an "
        "opaque op's arithmetic is unknown, so torch cannot rebuild it from a spec"
    )
    text = " ".join(result.stdout.split())
    assert "skipped" in text
    assert f"Skipped on cpu: conv {reason}." in text
    for out in (first, second):
        result = _run("compare", str(saved), "--preset", "quick", "--format", "json", "-o", str(out))
        assert result.returncode == 0, result.stderr
    data = json.loads(first.read_text(encoding="utf-8"))
    for name in VARIANTS:
        assert data["variants"][name]["latency"] == {"cpu": None}
        assert data["variants"][name]["skipped"] == {"cpu": f"{name} {reason}"}
    jsonschema.Draft202012Validator(json.loads(_invoke("schema")[1])).validate(data)
    code, out, _ = _invoke("merge", str(first), str(second), "--format", "json")
    assert code == 0
    merged = json.loads(out)
    jsonschema.Draft202012Validator(SCHEMAS["merge"]()).validate(merged)
    assert merged["unknown_ops"] == 4
    assert [row["median_ms"] for row in merged["rows"]] == [dict.fromkeys(VARIANTS)] * 2
    code, out, _ = _invoke("merge", str(first), str(second))
    assert "attention_cnn has 4 opaque ops: its MACs and FLOPs are lower bounds" in " ".join(out.split())


# -- check ---------------------------------------------------------------------------------------------


def test_a_lower_bound_over_its_limit_fails(saved: Path) -> None:
    result = _run("check", str(saved), "--max-macs", "15k")
    assert result.returncode == 1
    assert "FAIL" in result.stdout
    assert "macs >=15,104 exceeds its limit 15,000" in result.stderr


def test_a_lower_bound_within_its_limit_is_unverified_loudly_and_require_budgets_refuses_it(
    saved: Path,
) -> None:
    result = _run("check", str(saved), "--max-macs", "20k", "--max-params", "3k")
    assert result.returncode == 0
    out = " ".join(result.stdout.split())
    assert "macs budget 20,000 >=15,104 <=+24.5% UNVERIFIED" in out
    assert "params budget 3,000 2,682 +10.6% pass" in out
    assert "1 of 2 checks passed, 1 not verified, across 1 spec." in out
    assert "1 check NOT VERIFIED" in out
    assert result.stderr == (
        "convprof: warning: attention_cnn: macs >=15,104 is within its limit 20,000 as far as it is "
        "counted; NOT VERIFIED: the total leaves opaque ops' unknown counts out, so the true value may "
        "exceed what is allowed\n"
    )
    strict = _run("check", str(saved), "--max-macs", "20k", "--require-budgets")
    assert strict.returncode == 2
    assert strict.stderr.splitlines()[-1].startswith(
        "convprof: error: --require-budgets: 1 check NOT VERIFIED (attention_cnn: macs)"
    )


def test_check_json_and_markdown_say_which_checks_rest_on_lower_bounds(saved: Path) -> None:
    code, out, _ = _invoke("check", str(saved), "--max-flops", "1M", "--max-params", "3k", "--format", "json")
    assert code == 0
    data = json.loads(out)
    jsonschema.Draft202012Validator(SCHEMAS["check"]()).validate(data)
    params, flops = data["checks"]
    assert (flops["lower_bound"], flops["verified"], flops["passed"]) == (True, False, True)
    assert set(params) == {"spec", "metric", "check", "limit", "actual", "headroom_percent", "passed"}
    code, out, _ = _invoke("check", str(saved), "--max-flops", "1M", "--format", "markdown")
    assert "### convprof check: passed as far as counted, some checks NOT VERIFIED" in out
    assert "| **UNVERIFIED** |" in out


@pytest.mark.parametrize(
    ("actual", "baseline", "bounds", "verdict"),
    [
        (110, 100, (False, False), (True, True)),  # exact: within 10%
        (111, 100, (True, False), (False, True)),  # a lower bound above an exact limit: fails
        (110, 100, (True, False), (True, False)),  # a lower bound within: open
        (110, 100, (False, True), (True, True)),  # under a limit that is itself at least 110: holds
        (111, 100, (False, True), (True, False)),  # above a limit that may be higher: open
        (105, 100, (True, True), (True, False)),  # both lower bounds: open
    ],
)
def test_growth_against_lower_bounds(
    actual: int, baseline: int, bounds: tuple[bool, bool], verdict: tuple[bool, bool]
) -> None:
    check = GrowthCheck(
        "s", "macs", Fraction(10), baseline, actual, lower_bound=bounds[0], baseline_lower_bound=bounds[1]
    )
    assert (check.passed, check.verified) == verdict
    if any(bounds):
        assert check.growth is None  # no exact change between lower bounds


def test_the_check_schema_holds_every_row_form() -> None:
    """Latency rows carry `stable`, lower-bound rows `lower_bound` and `verified`: all in the schema."""
    checks = [
        LimitCheck("s", "latency_ms.cpu", 5.0, 4.0, unstable=True),
        LimitCheck("s", "macs", 10, 8, lower_bound=True),
        GrowthCheck("s", "flops", Fraction(5), 100, 104, lower_bound=True, baseline_lower_bound=True),
    ]
    jsonschema.Draft202012Validator(SCHEMAS["check"]()).validate(json.loads(checks_json(checks)))


def test_growth_check_between_two_lower_bounds_is_unverified(saved: Path, report_file: Path) -> None:
    code, out, err = _invoke(
        "check", str(saved), "--baseline", str(report_file), "--max-growth", "macs=0%,params=0%"
    )
    assert code == 0
    assert "UNVERIFIED" in out
    assert "macs >=15,104 against +0% of >=15,104 rests on a lower bound" in err


# -- diff, sweep ---------------------------------------------------------------------------------------


def test_diff_of_lower_bounds_gives_no_exact_delta(saved: Path, report_file: Path, tmp_path: Path) -> None:
    bigger = tmp_path / "bigger.json"
    code, _, _ = _invoke(
        "compare", str(saved), "--no-latency", "--batch-size", "2", "--format", "json", "-o", str(bigger)
    )
    assert code == 0
    old, new = load_report(report_file), load_report(bigger)
    macs = next(m for m in diff_reports(old, new).variant("conv").metrics if m.metric == "macs")
    assert (macs.old_lower_bound, macs.new_lower_bound, macs.delta, macs.percent) == (True, True, None, None)
    assert macs.counted_delta == 15104
    code, out, _ = _invoke("diff", str(report_file), str(bigger), "--format", "json")
    data = json.loads(out)
    jsonschema.Draft202012Validator(SCHEMAS["diff"]()).validate(data)
    assert data["variants"]["conv"]["metrics"]["macs"] == {
        "old": 15104,
        "new": 30208,
        "delta": None,
        "percent": None,
        "old_lower_bound": True,
        "new_lower_bound": True,
    }
    assert data["variants"]["conv"]["metrics"]["params"] == {
        "old": 2682,
        "new": 2682,
        "delta": 0,
        "percent": 0.0,
    }
    code, out, _ = _invoke("diff", str(report_file), str(bigger))
    text = " ".join(out.split())
    assert "conv macs >=15,104 >=30,208 +15,104 counted (lower bound: no exact change)" in text


def test_diff_from_an_exact_report_to_one_with_opaque_ops(tmp_path: Path) -> None:
    exact, opaque = tmp_path / "exact.yaml", tmp_path / "opaque.yaml"
    exact.write_text("name: n\ninput: [4, 6]\nlayers:\n  - linear: {out_features: 6, name: a}\n", "utf-8")
    opaque.write_text(
        "name: n\ninput: [4, 6]\nlayers:\n  - linear: {out_features: 6, name: a}\n"
        "  - opaque: {name: b, op: my.op, input_shapes: [[4, 6]], output_shape: [4, 6]}\n",
        "utf-8",
    )
    reports = []
    for spec in (exact, opaque):
        out = spec.with_suffix(".json")
        assert _invoke("compare", str(spec), "--no-latency", "--format", "json", "-o", str(out))[0] == 0
        reports.append(str(out))
    code, out, _ = _invoke("diff", *reports, "--format", "markdown")
    assert code == 0
    assert "| conv | unknown_ops | 0 | 1 | +1 |" in out
    assert "| conv | macs | 144 | >=144 | +0 counted (lower bound: no exact change) |" in out
    assert "| b | added | - -> 1 | - | Opaque 4x6, 0 params |" in out


def test_sweep_flags_growth_fitted_over_lower_bounds(saved: Path) -> None:
    code, out, _ = _invoke("sweep", str(saved), "--batch-size", "1,2,4", "--format", "json")
    assert code == 0
    data = json.loads(out)
    jsonschema.Draft202012Validator(SCHEMAS["sweep"]()).validate(data)
    fits = {(f["metric"], f["variant"]): f for f in data["fits"]}
    assert fits[("macs", "conv")]["lower_bound"] is True
    assert "lower_bound" not in fits[("params", "conv")]
    assert data["points"][0]["variants"]["conv"]["lower_bounds"] == list(LOWER_BOUNDS)
    code, out, _ = _invoke("sweep", str(saved), "--batch-size", "1,2,4", "--no-chart")
    text = " ".join(out.split())
    assert ">=15.1 k" in text
    assert "Fitted over lower bounds (dense, local, conv): opaque ops' counts are unknown" in text
    code, out, _ = _invoke("sweep", str(saved), "--batch-size", "1,2", "--format", "csv")
    assert out.splitlines()[1].split(",")[4:7] == [">=99584", ">=15104", ">=15104"]


def test_a_sweep_that_changes_what_an_opaque_op_reads_stops_at_that_point(saved: Path) -> None:
    code, _, err = _invoke("sweep", str(saved), "--resolution", "8,16")
    assert code == 2
    assert "sweep point 2 of 2 (resolution=16) is not a valid spec" in err
    assert "its output shape is known only for the inputs it was imported with" in err
    assert err.count("\n") == 1


def test_a_model_reference_is_imported_at_every_swept_input_where_its_opaque_ops_have_shapes() -> None:
    ref = f"{MODELS_FILE}:SpatialAttention"
    code, out, err = _invoke("sweep", ref, "--input", "3x8x8,16,32", "--allow-unknown", "--format", "json")
    assert code == 0, err
    assert err.count("kept opaque") == 1  # said once, not at every import
    data = json.loads(out)
    model = models.SpatialAttention()
    for point, side in zip(data["points"], (8, 16, 32), strict=True):
        conv = point["variants"]["conv"]
        assert point["input"] == [3, side, side]
        assert conv["params"] == sum(p.numel() for p in model.parameters())
        assert conv["macs"] == 8 * 27 * side * side + 8 * 10  # conv and linear: the counted part
        assert conv["lower_bounds"] == list(LOWER_BOUNDS_WITHOUT_PARAMETERS)
    fits = {(f["metric"], f["variant"]): f for f in data["fits"]}
    assert fits[("macs", "conv")]["lower_bound"] is True
    assert fits[("macs", "conv")]["exponent"] == pytest.approx(2.0, abs=0.01)
    code, _, err = _invoke("sweep", ref, "--input", "3x8x8,16")
    assert code == 2
    assert "1 op convprof cannot count" in err


def test_the_sweep_plot_titles_a_panel_of_lower_bounds(saved: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    plot = tmp_path / "sweep.svg"
    code, _, err = _invoke("sweep", str(saved), "--batch-size", "1,2", "--plot", str(plot))
    assert code == 0, err
    data = plot.read_bytes()
    assert data.count(b"lower bounds: opaque ops uncounted") == 1  # MACs; parameters and memory exact


#: A hand-written spec with an opaque layer giving every field, for hostile values in each of them.
OPAQUE_DOCUMENT = {
    "input": [4, 6],
    "layers": [
        {"linear": {"out_features": 6}},
        {
            "opaque": {
                "op": "custom.op",
                "input_shapes": [[4, 6]],
                "output_shape": [4, 6],
                "params": 10,
                "buffers": 3,
                "fixed_buffer_bytes": 8,
            }
        },
    ],
    "budgets": {"params": 100, "macs": "1k"},
}


@FUZZ
@given(
    path=st.sampled_from([p for p in _paths(OPAQUE_DOCUMENT) if "opaque" in p]),
    scalar=HOSTILE_SCALARS,
    command=st.sampled_from(["compare", "check"]),
)
def test_hostile_values_in_an_opaque_layer_end_cleanly(
    path: tuple[object, ...], scalar: str, command: str, tmp_path: Path
) -> None:
    text = _with_raw(OPAQUE_DOCUMENT, path, scalar)
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, [arg.format(spec=spec) for arg in SPEC_COMMANDS[command]])
    assert result.exception is None or isinstance(result.exception, SystemExit), (text, result.exception)
    _assert_one_line_or_success(result.exit_code, result.stdout, result.stderr)
    if result.exit_code == 2:
        assert POSITIONED.match(result.stderr), result.stderr

"""What a new user meets first, in real processes: bare `convprof`, `input` as `--input` writes it,
missing model files, and the messages that say how to fix a spec."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from convprof.cli import cli
from tests.processes import CONVPROF
from tests.test_no_torch import OPAQUE_SPEC  # an opaque op with parameters: a `?` ratio


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONVPROF, *args], capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL, timeout=120
    )


def _spec(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- bare `convprof` ---------------------------------------------------------------------------------


def test_bare_convprof_prints_its_help_and_exits_0() -> None:
    bare = _run()
    helped = _run("--help")
    assert (bare.returncode, bare.stderr) == (0, "")
    assert bare.stdout == helped.stdout
    assert bare.stdout.startswith("Usage: convprof [OPTIONS] COMMAND [ARGS]...\n")
    assert "convprof: error" not in bare.stdout


# -- `input` written as `--input` takes it ----------------------------------------------------------


@pytest.mark.parametrize("written", ["3x32x32", "3,32,32", "[3, 32, 32]", "'3x32x32'"])
def test_input_may_be_written_as_the_command_line_writes_it(written: str, tmp_path: Path) -> None:
    spec = _spec(tmp_path, f"input: {written}\nlayers:\n  - conv2d: {{out_channels: 8, kernel_size: 3}}\n")
    result = _run("compare", str(spec), "--no-latency", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["spec"]["input"] == [3, 32, 32]


@pytest.mark.parametrize(
    ("written", "column", "phrase"),
    [
        ("3xfoo", 8, "got string '3xfoo'"),
        ("3x32x32x32x32", 8, "got string '3x32x32x32x32'"),
        ("0x32", 8, "input: expected a positive integer, got int 0"),
        ("{c: 3}", 8, "got a mapping"),
    ],
)
def test_a_bad_input_says_both_forms(written: str, column: int, phrase: str, tmp_path: Path) -> None:
    spec = _spec(tmp_path, f"input: {written}\nlayers: [relu]\n")
    result = _run("compare", str(spec), "--no-latency")
    assert result.returncode == 2
    assert result.stderr.startswith(f"convprof: error: {spec}:1:{column}: ")
    assert phrase in result.stderr
    assert result.stderr.count("\n") == 1


# -- a model file that is not there -----------------------------------------------------------------


def test_a_model_file_that_does_not_exist_is_said_so(tmp_path: Path) -> None:
    result = _run("import", "nosuch.py:net", "--input", "3x32x32", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "convprof: error: nosuch.py:net: nosuch.py does not exist; give the path of the model's Python file\n"
    )
    (tmp_path / "models.py").mkdir()
    result = _run("compare", "models.py:net", "--input", "3x32x32", "--no-latency", cwd=tmp_path)
    assert result.stderr == (
        "convprof: error: models.py:net: models.py is a directory; give the path of a Python file in it\n"
    )


# -- messages that say how to fix a spec --------------------------------------------------------------

RESIDUAL_UNPADDED = """\
input: [3, 32, 32]
layers:
  - conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  - residual:
      body:
        - conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
        - relu
        - conv2d: {out_channels: 8, kernel_size: 3}
        - relu
"""
RESIDUAL_STRIDED = """\
input: [8, 32, 32]
layers:
  - residual:
      body:
        - conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
        - relu
        - conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
"""
RESIDUAL_WIDER = """\
input: [8, 32, 32]
layers:
  - residual:
      body:
        - conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
        - conv2d: {out_channels: 16, kernel_size: 1, name: expand}
        - relu
"""
BRANCHES_POOLED = """\
input: [8, 32, 32]
layers:
  - branches:
      paths:
        - [conv2d: {out_channels: 16, kernel_size: 1}]
        - [relu, maxpool2d: {kernel_size: 2}]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            RESIDUAL_UNPADDED,
            "8:11: layers.1.residual.body.2 conv2d makes 8x30x30 of 8x32x32, which the residual block cannot "
            "add to its shortcut's 8x32x32; give it padding so that it keeps its input's size "
            "(padding: same, with stride 1)",
        ),
        (
            RESIDUAL_STRIDED,
            "5:11: layers.0.residual.body.0 conv2d makes 16x16x16 of 8x32x32, which the residual block "
            "cannot add to its shortcut's 8x32x32; project the shortcut to 16x16x16: shortcut: "
            "[conv2d: {out_channels: 16, kernel_size: 1, stride: 2}]",
        ),
        (
            RESIDUAL_WIDER,
            "6:11: layers.0.residual.body.1 conv2d makes 16x32x32 of 8x32x32, which the residual "
            "block cannot add to its shortcut's 8x32x32; give it out_channels: 8; or project the shortcut "
            "to 16x32x32: shortcut: [conv2d: {out_channels: 16, kernel_size: 1}]",
        ),
        (
            BRANCHES_POOLED,
            "6:18: layers.0.branches.paths.1.1 maxpool2d makes 8x16x16 of 8x32x32, which the branches block "
            "cannot concatenate with the first path's 16x32x32; every dimension but the one joined must "
            "be equal: make it keep its input's size",
        ),
    ],
    ids=["unpadded", "strided", "wider", "branches"],
)
def test_a_block_that_cannot_merge_names_the_layer_that_made_the_shape(
    text: str, message: str, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, text)
    result = _run("compare", str(spec), "--no-latency")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"convprof: error: {spec}:{message}\n"


@pytest.mark.parametrize(
    ("input_shape", "kind", "hint"),
    [
        ("[3, 32]", "maxpool", "(did you mean maxpool1d? the input here is 1-D)"),
        ("[3, 32, 32]", "maxpool", "(did you mean maxpool2d? the input here is 2-D)"),
        ("[3, 8, 32, 32]", "conv", "(did you mean conv3d? the input here is 3-D)"),
        ("[3, 32, 32]", "batchnorm", "(did you mean batchnorm2d? the input here is 2-D)"),
        ("[3, 32, 32]", "maxpool3", "(did you mean maxpool2d?)"),  # the kinds of the input's rank first
        ("[3, 32, 32]", "se", "(squeeze-and-excitation is a gate block: - gate: {body: [...]})"),
        ("[3, 32, 32]", "fc", "(did you mean linear?)"),
        ("[3, 32, 32]", "bn", "(did you mean batchnorm2d?)"),
        ("[3, 32, 32]", "conv2x", "(did you mean conv2d?)"),
    ],
)
def test_an_unknown_kind_is_suggested_by_the_inputs_rank_first(
    input_shape: str, kind: str, hint: str, tmp_path: Path
) -> None:
    spec = _spec(tmp_path, f"input: {input_shape}\nlayers:\n  - {kind}: {{kernel_size: 2}}\n")
    result = _run("compare", str(spec), "--no-latency")
    assert result.returncode == 2
    assert result.stderr == f"convprof: error: {spec}:3:5: unknown layer kind {kind!r} {hint}\n"


# -- a legend under each table ----------------------------------------------------------------------

LEGEND_STARTS = ("vs conv: ", "Backward: ", "Act.: ")


def _compare(*args: str, columns: int = 200) -> str:
    result = CliRunner().invoke(cli, ["compare", *args, "--no-latency"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _paragraphs(text: str) -> list[str]:
    return [" ".join(part.split()) for part in text.split("\n\n") if part.strip()]


def test_a_legend_under_each_table_says_what_its_columns_mean() -> None:
    text = _compare("lenet5", "--layers")
    paragraphs = _paragraphs(text)
    legends = [p for p in paragraphs if p.startswith(LEGEND_STARTS)]
    assert legends == [
        "vs conv: ratio to the conv variant; Weights: parameter bytes; Peak act.: activation memory's peak "
        "in inference.",
        "Backward: its FLOPs; Saved act.: kept for backward; Optimizer: its state; Peak memory: the step's, "
        "weights included.",
        "Act.: output; Saved: for backward; RF: receptive field; Fan-in: inputs per unit; Local p., Dense "
        "p.: as local, dense.",
    ]
    # Each directly under its table: the paragraph before it is the table's rule and rows.
    for legend in legends:
        assert "────" in paragraphs[paragraphs.index(legend) - 1]
    markdown = _compare("lenet5", "--layers", "--format", "markdown")
    assert [
        line[1:-1] for line in markdown.splitlines() if line.startswith(tuple("_" + s for s in LEGEND_STARTS))
    ] == (legends)


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_no_legend_drops_the_legends_and_nothing_else(fmt: str) -> None:
    with_legend = _compare("lenet5", "--layers", "--format", fmt)
    without = _compare("lenet5", "--layers", "--format", fmt, "--no-legend")
    kept = [p for p in with_legend.split("\n\n") if not p.strip().lstrip("_").startswith(LEGEND_STARTS)]
    assert without == "\n\n".join(kept)
    assert not any(p.lstrip("_").startswith(LEGEND_STARTS) for p in _paragraphs(without))


def test_a_legend_explains_only_the_columns_shown() -> None:
    narrow = _paragraphs(_compare("lenet5", "--layers", columns=100))
    (layers,) = [p for p in narrow if p.startswith("Act.: ")]
    assert (
        layers == "Act.: output; RF: receptive field; Local p., Dense p.: as local, dense."
    )  # Saved, Fan-in hidden
    assert any(p.startswith("Narrow terminal: Saved, Fan-in hidden") for p in narrow)


def test_the_training_tables_question_mark_is_explained_where_it_appears(tmp_path: Path) -> None:
    spec = _spec(tmp_path, OPAQUE_SPEC)
    training = next(p for p in _paragraphs(_compare(str(spec))) if p.startswith("Backward: "))
    assert training.endswith("; ?: no ratio of a lower bound to an exact figure.")
    plain = next(p for p in _paragraphs(_compare("lenet5")) if p.startswith("Backward: "))
    assert "?" not in plain

"""What a new user meets first: clean text in pipes and files, wrapping, positions, stdin, examples."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from convprof.cli import cli
from convprof.commands.sources import load_spec
from convprof.render.common import has_frozen, layer_columns, layer_rows
from convprof.render.console import fits
from convprof.report.analyze import analyze
from convprof.spec.examples import example_names
from convprof.spec.sources import MAX_SPEC_BYTES
from tests.conftest import ROOT, SPECS
from tests.processes import CONVPROF

#: 65 channels of batch norm: running mean and variance 2 x 65 x 4 bytes + an int64 counter = 528 B.
BUFFERS_528 = "name: bn\ninput: [65, 4, 4]\nlayers:\n  - batchnorm2d\n"
#: A name as long as the one a user saw wrap: an adaptive pool's generated name.
LONG_NAMES = """\
name: pooled
input: [3, 16, 16]
layers:
  - conv2d: {out_channels: 8, kernel_size: 3}
  - adaptiveavgpool2d: {output_size: 1}
  - flatten
  - linear: {out_features: 10}
"""


def _invoke(*args: str | Path, columns: int | None = None, stdin: str | None = None) -> tuple[int, str, str]:
    env = {"COLUMNS": str(columns)} if columns else None
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _convprof(
    *args: str, data: bytes | None = None, stdin: int | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CONVPROF, *args],
        input=data,
        stdin=stdin if data is None else None,
        capture_output=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},  # a pipe's own width
        timeout=120,
    )


def _spec(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- tables in pipes and files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("compare", "lenet5", "--no-latency"),
        ("compare", "mobilenet_v1", "--no-latency"),
        ("check", "lenet5", "--max-params", "100k", "--max-macs", "1G"),
        ("sweep", "why_convolutions", "--resolution", "16,32,64"),
        ("examples",),
    ],
)
def test_tables_in_pipes_and_files_have_no_trailing_spaces(args: tuple[str, ...], tmp_path: Path) -> None:
    piped = _convprof(*args, stdin=subprocess.DEVNULL)
    assert piped.returncode == 0, piped.stderr
    text = piped.stdout.decode()
    assert text.count("\n") > 5
    assert [line for line in text.splitlines() if line != line.rstrip()] == []
    if args[0] in ("compare", "sweep"):  # the commands with -o
        target = tmp_path / "out.txt"
        assert _invoke(*args, "-o", target)[0] == 0
        assert target.read_text(encoding="utf-8") == text  # a file gets what a pipe gets


def _layer_rows(text: str) -> list[str]:
    """The rows of the per-layer table in `text`: between its rule and the next empty line."""
    lines = text.splitlines()
    start = lines.index("Layers (conv variant)") + 4  # its title, an empty line, the header, the rule
    end = lines.index("", start)
    return lines[start:end]


def test_a_pipe_or_a_file_gets_whole_tables_never_a_narrow_terminals_layout(tmp_path: Path) -> None:
    # A table as wide as it is, as git and ripgrep write to a pipe: no column hidden, no name folded
    # onto a second line, no records, whatever the terminal the pipe may end in.
    piped = _convprof("compare", "densenet121", "--no-latency", "--layers", stdin=subprocess.DEVNULL)
    assert piped.returncode == 0, piped.stderr
    text = piped.stdout.decode()
    assert "Narrow terminal" not in text
    header = text.splitlines()[text.splitlines().index("Layers (conv variant)") + 2].split()
    columns = "# Name Kind Output Params MACs Act. Saved RF Fan-in Local p. Dense p."
    assert header == columns.split()
    rows = _layer_rows(text)
    layers = [row for row in rows if re.match(r"^ +\d+ ", row)]
    blocks = [row for row in rows if re.match(r"^ +[a-z]\w* +\d+ layers ", row)]
    assert len(layers) == len(load_spec("densenet121").nodes) == 427
    assert len(layers) + len(blocks) == len(rows)  # no name broken onto a line of its own
    prose = [line for line in text.splitlines() if not line.startswith(" ")]
    assert max(len(line) for line in prose) <= 120  # sentences still wrap at 120 columns
    target = tmp_path / "out.txt"
    assert _invoke("compare", "densenet121", "--no-latency", "--layers", "-o", target)[0] == 0
    assert target.read_text(encoding="utf-8") == text


def test_examples_in_a_pipe_is_one_line_per_example() -> None:
    piped = _convprof("examples", stdin=subprocess.DEVNULL)
    lines = piped.stdout.decode().splitlines()
    names = example_names()
    rows = [line for line in lines if line.split() and line.split()[0] in names]
    assert [row.split()[0] for row in rows] == list(names)
    assert len([line for line in lines if line]) == len(names) + 3  # the title, the header, its rule
    assert not any(line.startswith("  Input") for line in lines)  # no records


@pytest.mark.slow
def test_columns_still_sets_the_width_of_a_pipe() -> None:
    narrow = subprocess.run(
        [*CONVPROF, "compare", "densenet121", "--no-latency", "--layers"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        timeout=120,
    )
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 100
    assert "Narrow terminal: " in narrow.stdout


@pytest.mark.parametrize("name", ["densenet121", "googlenet", "lraspp_mobilenet_v3_large"])
def test_a_table_fits_exactly_where_its_whole_measurement_says(name: str) -> None:
    # fits() measures one row of each column's widest cell; rich, measuring every cell, is the judge.
    # Names fold or not, columns dropped: at its exact width a table fits, one column less it does not.
    report = analyze(load_spec(name))
    headers = layer_columns(has_frozen(report))
    rows = layer_rows(report)
    for keep in (len(headers), len(headers) - 3):
        for folds in (False, True):
            table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False)
            for header in headers[:keep]:
                fold = folds and header == "Name"
                table.add_column(
                    header,
                    no_wrap=not fold,
                    overflow="fold" if fold else "ellipsis",
                    max_width=14 if fold else None,
                )
            for row in rows:
                table.add_row(*row[:keep])
            console = Console(width=1000, markup=False, emoji=False)
            whole = Measurement.get(console, console.options.update(max_width=1 << 16), table).maximum
            assert whole < 1000
            assert fits(table, Console(width=whole, markup=False, emoji=False))
            assert not fits(table, Console(width=whole - 1, markup=False, emoji=False))


def test_diff_table_in_a_pipe_has_no_trailing_spaces(tmp_path: Path) -> None:
    old, new = (tmp_path / "old.json", tmp_path / "new.json")
    assert _invoke("compare", "lenet5", "--no-latency", "--format", "json", "-o", old)[0] == 0
    assert (
        _invoke("compare", "lenet5", "--no-latency", "--format", "json", "--batch-size", "2", "-o", new)[0]
        == 0
    )
    code, out, _ = _invoke("diff", old, new)
    assert code == 0
    assert [line for line in out.splitlines() if line != line.rstrip()] == []


# -- wrapping ------------------------------------------------------------------------------------------


def test_names_never_wrap_while_there_is_room(tmp_path: Path) -> None:
    spec = _spec(tmp_path, LONG_NAMES)
    code, out, _ = _invoke("compare", spec, "--no-latency", columns=200)
    assert code == 0
    rows = [line for line in out.splitlines() if "adaptiveavgpool2d_1" in line]
    assert len(rows) == 1
    assert rows[0].split()[:3] == ["1", "adaptiveavgpool2d_1", "adaptiveavgpool2d"]
    assert "Fan-in" in out  # every column shown at 200 columns
    assert "hidden" not in out


def test_names_fold_rather_than_push_numbers_off_a_narrow_terminal(tmp_path: Path) -> None:
    spec = _spec(tmp_path, LONG_NAMES)
    code, out, _ = _invoke("compare", spec, "--no-latency", columns=60)
    assert code == 0
    assert all(len(line) <= 60 for line in out.splitlines())
    assert "…" not in out


def test_a_number_is_never_split_from_its_unit_at_60_columns(tmp_path: Path) -> None:
    spec = _spec(tmp_path, BUFFERS_528)
    code, out, _ = _invoke("compare", spec, "--no-latency", "--no-layers", columns=60)
    assert code == 0
    lines = out.splitlines()
    assert all(len(line) <= 60 for line in lines)
    # The sentence breaks before the number: "...not parameters):" / "528 B in every variant."
    assert any(line.startswith("528 B in every variant.") for line in lines), out
    assert not re.search(r"\d\n(B|KiB|MiB|GiB|k|M|G)\b", out)


def test_sweep_sentences_keep_numbers_with_units_at_60_columns() -> None:
    code, out, _ = _invoke("sweep", "why_convolutions", "--resolution", "16,32,64", "--no-chart", columns=60)
    assert code == 0
    assert all(len(line) <= 60 for line in out.splitlines())
    assert not re.search(r"\d\n(B|KiB|MiB|GiB|k|M|G)\b", out)


# -- the per-layer table ---------------------------------------------------------------------------------


def test_the_per_layer_table_left_out_says_how_to_get_it(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "input: [8]\nlayers:\n" + "  - relu\n" * 41)
    note = "Per-layer table left out: 41 layers is more than 40; --layers shows it."
    code, out, _ = _invoke("compare", spec, "--no-latency")
    assert code == 0
    assert note in out.replace("\n", " ")
    code, out, _ = _invoke("compare", spec, "--no-latency", "--format", "markdown")
    assert f"_{note}_" in out
    code, out, _ = _invoke("compare", spec, "--no-latency", "--layers")
    assert "relu_41" in out
    assert "left out" not in out
    code, out, _ = _invoke("compare", spec, "--no-latency", "--no-layers")
    assert "relu_41" not in out
    assert "left out" not in out  # asked for: nothing to explain
    small = _spec(tmp_path, "input: [8]\nlayers:\n" + "  - relu\n" * 40, "small.yaml")
    code, out, _ = _invoke("compare", small, "--no-latency")
    assert "relu_40" in out
    assert "left out" not in out


# -- one rule for positions -------------------------------------------------------------------------------


def test_every_output_gives_a_layer_the_same_0_based_position() -> None:
    """lenet5's c3 is the fourth layer: index 3 in JSON, CSV, the table, diff, errors and --set."""
    report = json.loads(_invoke("compare", "lenet5", "--no-latency", "--format", "json")[1])
    c3 = next(layer for layer in report["variants"]["conv"]["layers"] if layer["path"] == "c3")
    assert c3["index"] == 3
    csv_rows = _invoke("compare", "lenet5", "--no-latency", "--format", "csv", "--layers")[1].splitlines()
    assert "lenet5,conv,3,c3,s2,0,Conv2d,16x10x10" in "\n".join(csv_rows)
    table = _invoke("compare", "lenet5", "--no-latency", columns=200)[1]
    assert [line.split()[:2] for line in table.splitlines() if " c3 " in line] == [["3", "c3"]]
    markdown = _invoke("compare", "lenet5", "--no-latency", "--format", "markdown")[1]
    assert "| 3 | c3 | conv2d |" in markdown
    # --set layers.3 edits c3; a kernel too large for its 14x14 input is an error naming layers.3.
    code, _, err = _invoke("sweep", "lenet5", "--set", "layers.3.conv2d.kernel_size=5,15")
    assert code == 2
    assert "layers.3 conv2d: kernel 15x15 is larger than its 14x14 padded input" in err


def test_diff_positions_are_the_reports_indices(tmp_path: Path) -> None:
    text = (SPECS / "lenet5.yaml").read_text(encoding="utf-8")
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert _invoke("compare", "lenet5", "--no-latency", "--format", "json", "-o", old)[0] == 0
    # Drop layers.1 and widen c3: c3 is then at 2 and has changed (a shift alone is not a change).
    edited_text = text.replace("  - tanh\n", "", 1).replace("out_channels: 16,", "out_channels: 12,")
    edited = _spec(tmp_path, edited_text, "lenet5.yaml")
    assert _invoke("compare", edited, "--no-latency", "--format", "json", "-o", new)[0] == 0
    data = json.loads(_invoke("diff", old, new, "--format", "json")[1])
    layers = {layer["path"]: layer for layer in data["variants"]["conv"]["layers"]}
    assert (layers["c3"]["old_index"], layers["c3"]["new_index"]) == (3, 2)
    markdown = _invoke("diff", old, new, "--format", "markdown")[1]
    assert "| c3 | changed | 3 -> 2 | by name | output_shape 16x10x10 -> 12x10x10;" in markdown


# -- `-` reads the spec from stdin ------------------------------------------------------------------------


def test_dash_reads_the_spec_from_stdin() -> None:
    lenet = (SPECS / "lenet5.yaml").read_bytes()
    piped = _convprof("compare", "-", "--no-latency", "--format", "json", data=lenet)
    assert piped.returncode == 0, piped.stderr
    direct = _convprof("compare", "lenet5", "--no-latency", "--format", "json", stdin=subprocess.DEVNULL)
    assert piped.stdout == direct.stdout  # the spec names itself lenet5
    unnamed = _convprof(
        "compare", "-", "--no-latency", "--format", "json", data=b"input: [4]\nlayers: [relu]\n"
    )
    assert json.loads(unnamed.stdout)["spec"]["name"] == "stdin"


@pytest.mark.parametrize(
    "command", [["compare", "-", "--no-latency"], ["check", "-"], ["sweep", "-", "--width", "1,2"]]
)
def test_stdin_errors_name_stdin(command: list[str]) -> None:
    bad = b"input: [3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 9}\n"
    process = _convprof(*command, data=bad)
    assert process.returncode == 2
    assert process.stderr.decode() == (
        "convprof: error: <stdin>:3:5: layers.0 conv2d: kernel 9x9 is larger than its 8x8 padded input; "
        "use a smaller kernel or more padding\n"
    )


def test_stdin_is_bounded_like_a_file() -> None:
    process = _convprof("compare", "-", "--no-latency", data=b"#" * (MAX_SPEC_BYTES + 1))
    assert process.returncode == 2
    assert (
        process.stderr.decode()
        == "convprof: error: <stdin>: larger than 16 MiB; a spec is a short list of layers\n"
    )


def test_a_terminal_on_stdin_is_refused_rather_than_waited_for() -> None:
    leader, follower = pty.openpty()
    try:
        process = _convprof("compare", "-", "--no-latency", stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert process.returncode == 2
    assert b"standard input is a terminal; pipe a spec in" in process.stderr


def test_sweep_and_check_read_stdin_once() -> None:
    lenet = (SPECS / "lenet5.yaml").read_bytes()
    sweep = _convprof("sweep", "-", "--width", "0.5,1", "--format", "json", data=lenet)
    assert sweep.returncode == 0, sweep.stderr
    assert [p["variants"]["conv"]["params"] for p in json.loads(sweep.stdout)["points"]][-1] == 61_706
    check = _convprof("check", "-", "--max-params", "61706", "--format", "json", data=lenet)
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["checks"][0]["actual"] == 61_706


# -- examples NAME --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lenet5", "why_convolutions"])
def test_examples_name_prints_the_spec_to_start_from(name: str, tmp_path: Path) -> None:
    code, out, err = _invoke("examples", name)
    assert code == 0
    assert err == ""
    assert out == (SPECS / f"{name}.yaml").read_text(encoding="utf-8")
    mine = _spec(tmp_path, out, "my.yaml")
    ours = _invoke("compare", name, "--no-latency", "--format", "json")[1]
    assert _invoke("compare", mine, "--no-latency", "--format", "json")[1] == ours


def test_unknown_example_is_exit_2_with_a_suggestion() -> None:
    code, out, err = _invoke("examples", "lenet")
    assert code == 2
    assert out == ""
    assert (
        err == "convprof: error: no built-in example 'lenet' "
        "(did you mean lenet5? `convprof examples` lists them)\n"
    )

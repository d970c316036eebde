"""`convprof diff`: layers added, removed and resized; totals per variant; every format."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from convprof.ci.diff import diff_reports
from convprof.cli import cli
from convprof.graph.variants import VARIANTS
from convprof.render.machine import to_json
from convprof.report import Report
from convprof.report.reportfile import load_report
from tests.reports import environment, latency, measured, trained

OLD = """\
name: net
input: [3, 8, 8]
layers:
  - conv2d: {out_channels: 4, kernel_size: 3, name: c1}
  - relu: {name: r1}
  - flatten: {name: f}
  - linear: {out_features: 10, name: fc}
"""
# c1 resized to 8 channels, r1 removed, a dropout added before fc.
NEW = """\
name: net
input: [3, 8, 8]
layers:
  - conv2d: {out_channels: 8, kernel_size: 3, name: c1}
  - flatten: {name: f}
  - dropout: {name: drop}
  - linear: {out_features: 10, name: fc}
"""


def _report(tmp_path: Path, name: str, text: str) -> Path:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(text, encoding="utf-8")
    out = tmp_path / f"{name}.json"
    result = CliRunner().invoke(
        cli, ["compare", str(spec), "--format", "json", "--no-latency", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def reports(tmp_path: Path) -> tuple[Path, Path]:
    return _report(tmp_path, "old", OLD), _report(tmp_path, "new", NEW)


def _load(path: Path) -> Report:
    return load_report(path)


def test_layers_added_removed_and_resized(reports: tuple[Path, Path]) -> None:
    old, new = reports
    result = diff_reports(_load(old), _load(new))
    conv = result.variant("conv")
    summary = [(c.status, c.path, c.old_index, c.new_index) for c in conv.layers]
    assert summary == [
        ("changed", "c1", 0, 0),
        ("removed", "r1", 1, None),
        ("changed", "f", 2, 1),
        ("added", "drop", None, 2),
        ("changed", "fc", 3, 3),
    ]
    c1 = {m.metric: (m.old, m.new) for m in conv.layers[0].changes}
    # c1: 4 x (27 + 1) = 112 params -> 8 x 28 = 224; output 4x6x6 -> 8x6x6.
    assert c1["params"] == (112, 224)
    assert c1["output_shape"] == ("4x6x6", "8x6x6")
    assert c1["macs"] == (4 * 36 * 27, 8 * 36 * 27)
    fc = {m.metric: (m.old, m.new) for m in conv.layers[4].changes}
    assert fc["params"] == (144 * 10 + 10, 288 * 10 + 10)
    totals = {m.metric: (m.old, m.new) for m in conv.metrics}
    assert totals["params"] == (112 + 1450, 224 + 2890)
    assert not {m.metric for m in conv.metrics if not m.changed} & {"params", "macs"}


def test_identical_reports_show_no_change(reports: tuple[Path, Path]) -> None:
    old, _ = reports
    result = CliRunner().invoke(cli, ["diff", str(old), str(old)])
    assert result.exit_code == 0
    assert "No change." in result.stdout


def test_formats_and_step_summary(reports: tuple[Path, Path], tmp_path: Path, golden) -> None:
    old, new = reports
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    markdown = CliRunner().invoke(cli, ["diff", str(old), str(new), "--format", "markdown"], env=env)
    assert markdown.exit_code == 0
    assert "appended the Markdown summary" in markdown.stderr
    text = markdown.stdout.replace(str(tmp_path), "TMP")
    golden("diff_net.md", text)
    assert summary.read_text(encoding="utf-8") == markdown.stdout + "\n"
    data = json.loads(CliRunner().invoke(cli, ["diff", str(old), str(new), "--format", "json"]).stdout)
    assert data["variants"]["conv"]["metrics"]["params"] == {
        "old": 1562,
        "new": 3114,
        "delta": 1552,
        "percent": round(1552 / 1562 * 100, 4),
    }
    assert [layer["status"] for layer in data["variants"]["dense"]["layers"]] == [
        "changed",
        "removed",
        "changed",
        "added",
        "changed",
    ]
    table = CliRunner().invoke(cli, ["diff", str(old), str(new)])
    assert table.exit_code == 0
    assert "removed" in table.stdout
    assert "drop" in table.stdout


def _rows(text: str) -> list[tuple[str, str]]:
    """(variant, metric) of each Markdown totals row."""
    found = re.findall(r"^\| (dense|local|conv) \| (\w+) \|", text, flags=re.MULTILINE)
    return [(variant, metric) for variant, metric in found]


def test_default_shows_what_changed_in_the_model_as_written(reports: tuple[Path, Path]) -> None:
    old, new = reports
    markdown = CliRunner().invoke(cli, ["diff", str(old), str(new), "--format", "markdown"]).stdout
    rows = _rows(markdown)
    # Only conv rows, only changed totals: buffer_bytes (0 -> 0) and elementwise_ops stay out.
    assert {variant for variant, _ in rows} == {"conv"}
    assert ("conv", "params") in rows
    assert ("conv", "buffer_bytes") not in rows
    assert "_The local and dense variants change too; --all lists every variant and metric._" in markdown
    assert "Layers (dense variant)" not in markdown
    table = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["diff", str(old), str(new)]).stdout
    assert "Totals that changed (conv variant: the model as written)" in table
    assert "--all lists every variant and metric" in table
    assert not re.search(r"^ ?(dense|local) ", table, flags=re.MULTILINE)


def test_all_shows_every_variant_and_metric(reports: tuple[Path, Path]) -> None:
    old, new = reports
    markdown = CliRunner().invoke(cli, ["diff", str(old), str(new), "--format", "markdown", "--all"]).stdout
    rows = _rows(markdown)
    metrics = list(json.loads(old.read_text(encoding="utf-8"))["variants"]["conv"])
    # The memory over time (where a training step peaks and what it holds there) is no total.
    over_time = ("step_optimizer_bytes", "training_peak", "training_peak_tensors")
    totals = [m for m in metrics if m not in ("latency", "training_latency", "layers", *over_time)]
    assert len(rows) == 3 * len(totals)  # every variant x every total, changed or not
    assert [variant for variant, _ in rows[:: len(totals)]] == ["conv", "local", "dense"]  # as written first
    assert ("dense", "buffer_bytes") in rows
    assert "| conv | buffer_bytes | 0 | 0 | 0 |" in markdown
    for variant in ("conv", "local", "dense"):
        assert f"#### Layers ({variant} variant)" in markdown
    assert "--all lists" not in markdown


def test_unchanged_reports_with_all_list_every_total(reports: tuple[Path, Path]) -> None:
    old, _ = reports
    markdown = CliRunner().invoke(cli, ["diff", str(old), str(old), "--format", "markdown", "--all"]).stdout
    assert "| conv | params | 1,562 | 1,562 | 0 |" in markdown
    assert "Layers (" not in markdown


def test_diff_json_is_versioned_and_valid(reports: tuple[Path, Path]) -> None:
    import jsonschema

    from convprof.render.schemas import diff_schema

    old, new = reports
    data = json.loads(CliRunner().invoke(cli, ["diff", str(old), str(new), "--format", "json"]).stdout)
    assert (data["schema_version"], data["kind"]) == (2, "diff")
    jsonschema.Draft202012Validator(diff_schema()).validate(data)


def test_bad_inputs_exit_2(reports: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = reports
    not_report = tmp_path / "x.json"
    not_report.write_text('{"a": 1}', encoding="utf-8")
    for args, fragment in [
        ([str(old), str(tmp_path / "none.json")], "no such file"),
        ([str(old), str(not_report)], "not a convprof report"),
        ([str(old), str(new), "-o", str(tmp_path / "no" / "d.md")], "does not exist"),
    ]:
        result = CliRunner().invoke(cli, ["diff", *args])
        assert result.exit_code == 2, args
        assert result.stderr.startswith("convprof: error: ")
        assert fragment in result.stderr
    written = tmp_path / "d.md"
    assert CliRunner().invoke(cli, ["diff", str(old), str(new), "-o", str(written)]).exit_code == 0
    assert "c1" in written.read_text(encoding="utf-8")


def _graph_report(tmp_path: Path, name: str, insert: str) -> Path:
    text = f"""\
name: net
input: [3, 16, 16]
layers:
  - conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
{insert}  - conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
  - relu
  - repeat:
      name: stage
      times: 2
      layers:
        - residual:
            body:
              - conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
              - relu
              - conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
  - conv2d: {{out_channels: 4, kernel_size: 1}}
"""
    return _report(tmp_path, name, text)


def test_inserting_a_layer_is_one_added_row_not_a_cascade(tmp_path: Path) -> None:
    # Generated names count per kind: the insertion renames every later top-level conv2d_N, which
    # must still be matched to themselves.
    old = _graph_report(tmp_path, "old", "")
    new = _graph_report(tmp_path, "new", "  - conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n")
    conv = diff_reports(_load(old), _load(new)).variant("conv")
    assert [(c.status, c.path, c.old_index, c.new_index) for c in conv.layers if c.status != "renamed"] == [
        ("added", "conv2d_2", None, 1)
    ]
    # The later conv2d_N took the next number: each is paired with itself by content, and said so.
    renamed = [(c.old_path, c.path, c.paired, c.changes) for c in conv.layers if c.status == "renamed"]
    assert renamed == [("conv2d_2", "conv2d_3", "content", ()), ("conv2d_3", "conv2d_4", "content", ())]


def test_a_changed_layer_inside_a_block_is_found_by_its_path(tmp_path: Path) -> None:
    old = _graph_report(tmp_path, "old", "")
    text = _load(old)
    new = _report(
        tmp_path,
        "new",
        (tmp_path / "old.yaml").read_text(encoding="utf-8").replace("times: 2", "times: 3"),
    )
    conv = diff_reports(text, _load(new)).variant("conv")
    added = [c.path for c in conv.layers if c.status == "added"]
    assert added == [
        "stage.2.conv2d_1",
        "stage.2.relu_1",
        "stage.2.conv2d_2",
        "stage.2.add_1",
    ]
    assert [c.path for c in conv.layers if c.status != "added"] == ["conv2d_3"]  # its input changed


def test_training_latency_is_diffed_like_latency(reports: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = (_load(path) for path in reports)
    old = trained(measured(old, {v: {"cpu": 1.0} for v in VARIANTS}), {v: {"cpu": 4.0} for v in VARIANTS})
    new = trained(measured(new, {v: {"cpu": 1.0} for v in VARIANTS}), {v: {"cpu": 5.0} for v in VARIANTS})
    conv = diff_reports(old, new).variant("conv")
    change = next(m for m in conv.metrics if m.metric == "training_latency_ms.cpu")
    assert (change.old, change.new, change.delta, change.percent) == (4.0, 5.0, 1.0, 25.0)
    unchanged = next(m for m in conv.metrics if m.metric == "latency_ms.cpu")
    assert not unchanged.changed
    paths = tmp_path / "old_t.json", tmp_path / "new_t.json"
    for path, report in zip(paths, (old, new), strict=True):
        path.write_text(to_json(report), encoding="utf-8")
    markdown = CliRunner().invoke(cli, ["diff", *map(str, paths), "--format", "markdown"]).stdout
    assert "| conv | training_latency_ms.cpu | 4.000 | 5.000 | +1.000 (+25.0%) |" in markdown


# -- pairing said out loud, and measured medians compared only under the same protocol ---------------

UNNAMED = """\
name: net
input: [3, 16, 16]
layers:
  - conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
  - relu
  - conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}
  - relu
{insert}  - conv2d: {{out_channels: 4, kernel_size: 3, padding: 1}}
  - flatten
  - linear: {{out_features: 10, name: fc}}
"""


def test_each_row_says_whether_it_was_paired_by_name_or_by_content(tmp_path: Path) -> None:
    # A conv and a relu inserted before the last conv: the old report's conv2d_3 is the new one's
    # conv2d_4, and the table says so rather than leave `conv2d_3 added` unexplained.
    old = _report(tmp_path, "old", UNNAMED.format(insert=""))
    inserted = "  - conv2d: {out_channels: 8, kernel_size: 1}\n  - relu\n"
    new = _report(tmp_path, "new", UNNAMED.format(insert=inserted))
    table = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["diff", str(old), str(new)]).stdout
    rows = [" ".join(line.split()) for line in table.splitlines()]
    listed = rows[rows.index("Layer Status Position Paired Changes") + 2 :][:3]
    assert listed == [
        "conv2d_3 added - -> 4 - Conv2d 8x16x16, 72 params",
        "relu_3 added - -> 5 - ReLU 8x16x16, 0 params",
        "conv2d_3 -> conv2d_4 renamed 4 -> 6 by content renamed only",
    ]
    assert any(
        row.startswith("Paired by name: the same path in both reports. By content: a generated")
        for row in rows
    )
    data = json.loads(CliRunner().invoke(cli, ["diff", str(old), str(new), "--format", "json"]).stdout)
    layers = data["variants"]["conv"]["layers"]
    assert {(layer["status"], layer["paired"]) for layer in layers} == {
        ("added", None),
        ("renamed", "content"),
    }
    assert all(layer["old_path"] != layer["path"] for layer in layers if layer["status"] == "renamed")
    # Named layers pair by name.
    named = CliRunner().invoke(cli, ["diff", *map(str, _named(tmp_path)), "--format", "json"]).stdout
    assert {layer["paired"] for layer in json.loads(named)["variants"]["conv"]["layers"]} == {"name", None}


def _named(tmp_path: Path) -> tuple[Path, Path]:
    return _report(tmp_path, "old_named", OLD), _report(tmp_path, "new_named", NEW)


def test_help_states_the_pairing_rule() -> None:
    text = " ".join(CliRunner().invoke(cli, ["diff", "--help"]).stdout.split())
    assert "Layers are paired by name: a layer's path in one report is the same layer in the other." in text
    assert "is paired by content instead: its block, kind, output shape and parameters" in text


def _measured_pair(
    tmp_path: Path, reports: tuple[Path, Path], threads: tuple[int, int], old_ms: list[float]
) -> tuple[Path, Path]:
    old, new = (_load(path) for path in reports)
    old = measured(old, {v: {"cpu": 1.0} for v in VARIANTS}, environment("Test CPU", threads[0], "2.13.0"))
    new = measured(new, {v: {"cpu": 1.5} for v in VARIANTS}, environment("Test CPU", threads[1], "2.13.0"))
    unstable = replace(old.variant("conv"), latency=(latency("cpu", old_ms),))
    old = replace(old, variants=tuple(unstable if v.name == "conv" else v for v in old.variants))
    paths = tmp_path / "old_m.json", tmp_path / "new_m.json"
    for path, report in zip(paths, (old, new), strict=True):
        path.write_text(to_json(report), encoding="utf-8")
    return paths


#: Samples whose median is 1.0 ms but whose IQR is far above 10% of it: an unstable median.
SPREAD = [0.5, 0.7, 1.0, 1.4, 1.9]


def test_an_unstable_median_keeps_its_mark_in_a_diff(reports: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = _measured_pair(tmp_path, reports, (1, 1), SPREAD)
    markdown = CliRunner().invoke(cli, ["diff", str(old), str(new), "--format", "markdown"]).stdout
    # Markdown cells are escaped (a tilde can strike text through): `\~` renders as `~`.
    assert "| conv | latency_ms.cpu | \\~1.000 | 1.500 | +0.500 (+50.0%) |" in markdown
    assert "**~: an unstable median (its spread over 10%): its change may be noise.**" in markdown
    table = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["diff", str(old), str(new)]).stdout
    assert any(
        line.split()[:4] == ["conv", "latency_ms.cpu", "~1.000", "1.500"] for line in table.splitlines()
    )
    data = json.loads(CliRunner().invoke(cli, ["diff", str(old), str(new), "--format", "json"]).stdout)
    change = data["variants"]["conv"]["metrics"]["latency_ms.cpu"]
    assert (change["old_stable"], change["new_stable"], change["comparable"]) == (False, True, True)


def test_medians_measured_with_other_threads_are_not_compared(
    reports: tuple[Path, Path], tmp_path: Path
) -> None:
    old, new = _measured_pair(tmp_path, reports, (1, 2), [1.0] * 5)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["diff", str(old), str(new)])
    assert result.exit_code == 0
    rows = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "conv latency_ms.cpu 1.000 1.500 not compared: threads 1 -> 2" in rows
    assert not any("%" in row for row in rows if "latency_ms" in row)
    assert any(
        row.startswith("NOT COMPARED: latency_ms.cpu (threads 1 -> 2): the reports measured") for row in rows
    )
    assert result.stderr.startswith("convprof: warning: NOT COMPARED: latency_ms.cpu (threads 1 -> 2)")
    data = json.loads(CliRunner().invoke(cli, ["diff", str(old), str(new), "--format", "json"]).stdout)
    change = data["variants"]["conv"]["metrics"]["latency_ms.cpu"]
    assert (change["delta"], change["percent"], change["comparable"]) == (None, None, False)
    assert change["protocol"] == ["threads 1 -> 2"]
    params = data["variants"]["conv"]["metrics"]["params"]
    assert params["delta"] == params["new"] - params["old"] != 0  # sizes are compared as ever


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("dtype", "float16", "dtype float32 -> float16"),
        ("batch_size", 8, "batch size 1 -> 8"),
        ("channels_last", True, "channels-last off -> on"),
        ("compiled", True, "compile off -> on"),
        ("cpu_model", "Other CPU", "CPU Test CPU -> Other CPU"),
    ],
)
def test_every_protocol_difference_is_named(
    reports: tuple[Path, Path], tmp_path: Path, field: str, value: object, said: str
) -> None:
    old, new = (_load(path) for path in reports)
    where = environment("Test CPU", 1, "2.13.0")
    old = measured(old, {v: {"cpu": 1.0} for v in VARIANTS}, where)
    new = measured(new, {v: {"cpu": 1.0} for v in VARIANTS}, replace(where, **{field: value}))
    change = next(m for m in diff_reports(old, new).variant("conv").metrics if m.metric == "latency_ms.cpu")
    assert (change.protocol, change.delta) == ((said,), None)

"""`--format html`: one self-contained page per result, whose every figure is the JSON report's.

The pages are parsed here with Python's HTML parser (tests/html_page.py); tests/test_html_browser.py
opens them in a real browser. Every figure a page draws carries its exact value, so each is checked
against the JSON report of the same run: the summary's totals, every bar, every row of the layer tree,
the memory over time and what is held at a training step's peak, the graph's nodes and edges.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from convprof.cli import cli
from convprof.commands.sources import load_spec
from convprof.render.html.compare import compare_html
from convprof.report.analyze import analyze
from convprof.spec.examples import example_names
from convprof.units import format_bytes, format_count
from tests.conftest import ROOT
from tests.html_page import Element, parse
from tests.processes import CONVPROF
from tests.reports import environment, measured, trained

#: Names no page may turn into markup: tags, an event handler, a script end, quotes and an entity.
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_DESCRIPTION = "</script><script>alert(2)</script> & \"quoted\" 'single' &amp;"
HOSTILE_LAYER = '"><svg onload=alert(3)>'
HOSTILE_SPEC = f"""\
name: {json.dumps(HOSTILE_NAME)}
description: {json.dumps(HOSTILE_DESCRIPTION)}
input: [3, 16, 16]
layers:
  - conv2d: {{out_channels: 4, kernel_size: 3, name: {json.dumps(HOSTILE_LAYER)}}}
  - group:
      name: "</style><b>bold</b>"
      layers:
        - relu: {{name: "a'b\\"c"}}
        - conv2d: {{out_channels: 4, kernel_size: 3, name: "<!-- x -->"}}
  - flatten
  - linear: {{out_features: 3, name: "&lt;entity&gt;"}}
"""
#: A spec with an opaque op (its MACs and what its backward keeps unknown), written by hand.
OPAQUE_SPEC = """\
name: with_opaque
input: [4, 8, 8]
layers:
  - conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
  - opaque: {op: custom.op, input_shapes: [[4, 8, 8]], output_shape: [4, 8, 8], params: 10}
  - conv2d: {out_channels: 4, kernel_size: 3}
  - flatten
  - linear: {out_features: 3}
"""


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def pages(spec: str, *extra: str) -> tuple[dict[str, Any], Element, str]:
    """Return the JSON report of `spec` and its page (parsed, and as text), made by the CLI."""
    report = json.loads(invoke("compare", spec, "--no-latency", "--format", "json", *extra))
    text = invoke("compare", spec, "--no-latency", "--format", "html", *extra)
    return report, parse(text), text


def _number(text: str) -> int | None:
    return None if text == "" else int(text)


def check_figures(report: dict[str, Any], page: Element, depth: int | None = None) -> None:
    """Assert that every figure `page` carries is the JSON report's."""
    variants = report["variants"]
    paths = [layer["path"] for layer in variants["conv"]["layers"]]
    by_path = {name: {layer["path"]: layer for layer in v["layers"]} for name, v in variants.items()}
    # The summary and training tables: each total cell is the variant's total, shown in human units.
    totals = page.find_all("table", lambda e: e.attrs.get("class") == "totals")
    assert len(totals) == 2
    cells = [cell for table in totals for cell in table.having("data-metric", "td")]
    assert len(cells) == 3 * 10
    for cell in cells:
        value = variants[cell.attrs["data-variant"]][cell.attrs["data-metric"]]
        assert _number(cell.attrs["data-value"]) == value
        human = format_bytes(value) if cell.attrs["data-metric"].endswith("bytes") else format_count(value)
        assert cell.text().removeprefix(">=") == human
    # Where the cost is: a row per layer (or folded block), a bar per variant and metric.
    rows = page.by_id("cost").having("data-path", "g")
    for row in rows:
        bars = row.having("data-metric", "rect")
        assert len(bars) == 9
        for bar in bars:
            variant, metric = bar.attrs["data-variant"], bar.attrs["data-metric"]
            if depth is None:
                assert _number(bar.attrs["data-value"]) == by_path[variant][row.attrs["data-path"]][metric]
            assert ("unknown" in bar.attrs.get("class", "")) == (bar.attrs["data-value"] == "")
    if depth is None:
        assert [row.attrs["data-path"] for row in rows] == paths
    else:  # folded: each row a layer above the fold or a block at it, summing its layers
        for row in rows:
            path = row.attrs["data-path"]
            inside = [p for p in paths if p == path or p.startswith(path + ".")]
            assert inside
            assert path.count(".") <= depth
            for bar in row.having("data-metric", "rect"):
                figures = [by_path[bar.attrs["data-variant"]][p][bar.attrs["data-metric"]] for p in inside]
                known = [f for f in figures if f is not None]
                assert _number(bar.attrs["data-value"]) == (sum(known) if known else None)
    # The layer tree: each layer's row carries its conv figures.
    tree = (
        page.by_id("layers-table")
        if page.find_all(test=lambda e: e.attrs.get("id") == "layers-table")
        else None
    )
    if tree is not None:
        for row in tree.having("data-path", "tr"):
            if "data-block" in row.attrs:
                continue
            for cell in row.having("data-metric", "td"):
                expected = by_path["conv"][row.attrs["data-path"]][cell.attrs["data-metric"]]
                assert _number(cell.attrs["data-value"]) == expected
    # Memory over time: inference's live bytes peak where the summary says; a training step's peak
    # is the report's, and so is what is held there.
    memory = page.by_id("memory")
    live = memory.by_id("live")
    for line in live.having("data-series", "polyline"):
        assert len(line.attrs["points"].split()) == len(paths)
    (peak,) = live.having("data-marker")
    assert _number(peak.attrs["data-value"]) == variants["conv"]["activation_bytes"]
    for step in memory.find_all("details", lambda e: "step" in e.attrs.get("class", "")):
        variant = variants[step.attrs["data-variant"]]
        (marker,) = step.find_all(test=lambda e: e.attrs.get("data-marker") == "training-peak")
        assert _number(marker.attrs["data-value"]) == variant["training_bytes"]
        (series,) = step.having("data-series", "polyline")
        moments = len(paths) + sum(1 for layer in variant["layers"] if layer["step_backward_bytes"]) + 1
        assert len(series.attrs["points"].split()) == moments
        held = Counter(
            (row.attrs["data-role"], row.attrs.get("data-layer"), int(row.attrs["data-value"]))
            for row in step.having("data-role", "tr")
        )
        expected = Counter((t["role"], t["layer"], t["bytes"]) for t in variant["training_peak_tensors"])
        assert held == expected
        assert (
            sum(int(bar.attrs["data-value"]) for bar in step.having("data-role", "rect"))
            == (variant["training_bytes"])
        )
    # The graph: a node per row of the cost chart, each read from the nodes its layers read.
    nodes = page.by_id("graph").having("data-node", "rect")
    assert [node.attrs["data-node"] for node in nodes] == [row.attrs["data-path"] for row in rows]
    # The receptive field: a choice per layer the variants change, each with its three units.
    changed = [
        layer["path"]
        for layer, dense in zip(variants["conv"]["layers"], variants["dense"]["layers"], strict=True)
        if layer["kind"] != dense["kind"]
    ]
    if changed and len(report["spec"]["input"]) > 1:
        options = page.by_id("rf-layer").find_all("option")
        assert [o.attrs["data-layer"] for o in options] == changed


def assert_inert(page: Element, text: str) -> None:
    """Assert the page has no markup but its own: one script, no element from outside, no handler."""
    assert len(page.find_all("script")) == 1
    assert not page.find_all(test=lambda e: e.tag in ("img", "iframe", "object", "embed", "b", "link"))
    assert not page.find_all(test=lambda e: any(name.startswith("on") for name in e.attrs))
    # Only the page's own links, to its own sections; nothing fetched.
    for element in page.having("href"):
        assert element.attrs["href"].startswith("#"), element.attrs
    assert not page.having("src")
    assert "http://" not in text
    assert "https://" not in text.replace("https://convprof.invalid", "")


@pytest.mark.parametrize("name", example_names())
def test_every_example_page_carries_the_json_report_figures(name: str) -> None:
    report, page, text = pages(name)
    check_figures(report, page)
    assert_inert(page, text)


@pytest.mark.parametrize(("name", "depth"), [("resnet50", 0), ("resnet50", 1), ("unet", 2), ("googlenet", 1)])
def test_folded_blocks_carry_their_layers_totals(name: str, depth: int) -> None:
    report, page, _ = pages(name, "--depth", str(depth))
    check_figures(report, page, depth)
    nodes = page.by_id("graph").having("data-node", "rect")
    assert all(node.attrs["data-node"].count(".") <= depth for node in nodes)
    assert len(nodes) < len(report["variants"]["conv"]["layers"])


def test_a_page_of_opaque_ops_draws_unknown_counts_hatched_never_zero(tmp_path: Path) -> None:
    spec = tmp_path / "opaque.yaml"
    spec.write_text(OPAQUE_SPEC, encoding="utf-8")
    report, page, _ = pages(str(spec))
    check_figures(report, page)
    unknown = page.by_id("cost").find_all("rect", lambda e: e.attrs.get("class") == "unknown")
    # The opaque op's MACs in every variant: unknown; its parameters and output bytes are known.
    assert [(bar.attrs["data-variant"], bar.attrs["data-metric"]) for bar in unknown] == [
        ("dense", "macs"),
        ("local", "macs"),
        ("conv", "macs"),
    ]
    assert ">=" in page.by_id("summary").text()  # totals over it are lower bounds
    node = page.by_id("graph").find_all("rect", lambda e: e.attrs.get("data-node") == "opaque_1")[0]
    assert node.attrs["data-fill-conv-macs"] == "url(#hatch)"


def test_a_hostile_name_is_text_never_markup(tmp_path: Path) -> None:
    spec = tmp_path / "hostile.yaml"
    spec.write_text(HOSTILE_SPEC, encoding="utf-8")
    report, page, text = pages(str(spec))
    check_figures(report, page)
    assert_inert(page, text)
    title = page.find_all("title")[0].text()
    assert title == f"convprof: {HOSTILE_NAME}"
    assert page.find_all("h1")[0].text().startswith(HOSTILE_NAME)
    assert HOSTILE_DESCRIPTION in page.find_all("header")[0].text()
    names = {row.attrs["data-path"] for row in page.by_id("layers-table").having("data-path", "tr")}
    assert {HOSTILE_LAYER, "</style><b>bold</b>", "</style><b>bold</b>.a'b\"c", "&lt;entity&gt;"} <= names
    tree_text = page.by_id("layers-table").text()
    assert HOSTILE_LAYER in tree_text
    assert "<!-- x -->" in tree_text
    assert "<img" not in text
    assert "</script><script>" not in text
    assert "<svg onload" not in text


def test_a_measured_report_shows_the_machine_and_the_measured_peak() -> None:
    report = analyze(load_spec("why_convolutions"))
    report = measured(
        report,
        {"dense": {"cpu": 4.0}, "local": {"cpu": 0.3}, "conv": {"cpu": 0.1}},
        environment("Test CPU <i>9000</i>", 1, "2.13.0"),
    )
    report = trained(report, {"dense": {"cpu": 0.0}, "local": {"cpu": 9.0}, "conv": {"cpu": 1.0}})
    page = parse(compare_html(report, layers=True))
    notes = page.by_id("measured").text()
    assert "Measured with torch 2.13.0, 1 thread of 2 on Test CPU <i>9000</i>" in notes
    assert "Training step skipped on cpu: dense too large." in notes
    for name in ("local", "conv"):
        step = page.find_all("details", lambda e, n=name: e.attrs.get("data-variant") == n)[0]
        (line,) = step.find_all(test=lambda e: e.attrs.get("data-marker") == "measured-cpu")
        assert int(line.attrs["data-value"]) == 2048  # the measured peak tests/reports.py records
    dense = page.find_all("details", lambda e: e.attrs.get("data-variant") == "dense")[0]
    assert not dense.find_all(test=lambda e: e.attrs.get("data-marker") == "measured-cpu")
    assert "Training step per call" in [c.text() for c in page.find_all("caption")]
    headers = [th.text() for th in page.by_id("summary").find_all("th")]
    assert "Latency(cpu)" in headers
    assert "Step(cpu)" in headers


def test_the_layer_tree_has_every_layer_at_any_size_unless_turned_off() -> None:
    # A table leaves out resnet50's 175 layers by default; a page folds its blocks instead.
    _, page, _ = pages("resnet50")
    rows = page.by_id("layers-table").having("data-path", "tr")
    assert sum("data-block" not in row.attrs for row in rows) == 175
    _, page, _ = pages("resnet50", "--no-layers")
    assert not page.find_all(test=lambda e: e.attrs.get("id") == "layers-table")


def test_the_receptive_field_of_the_classic_example() -> None:
    _, page, _ = pages("why_convolutions")
    figure = page.by_id("rf")
    sentences = [p.text() for p in figure.having("data-rf", "p")]
    assert sentences == [
        "sees the whole 3x32x32 input",
        "fan-in 3,072 connections per unit",
        "14,455,392 parameters in the layer: every output unit its own weights over the whole input",
        "sees a window of 5x5 of the 32x32 input",
        "fan-in 75 connections per unit",
        "357,504 parameters in the layer: every output position its own weights",
        "sees a window of 5x5 of the 32x32 input",
        "fan-in 75 connections per unit",
        "456 parameters in the layer: one set of weights shared by every output position",
    ]
    boxes = {r.attrs["data-rf"]: r for r in figure.having("data-rf", "rect")}
    # The input drawn 150 px wide: a 5x5 window of 32x32 is 5/32 of it, centred; a dense unit all of it.
    assert boxes["conv-seen"].attrs["width"] == boxes["local-seen"].attrs["width"] == f"{5 * 150 / 32:.1f}"
    assert boxes["dense-seen"].attrs["width"] == boxes["dense-box"].attrs["width"] == "150.0"


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("compare_why_convolutions.html", ("compare", "why_convolutions", "--no-latency")),
        ("compare_lenet5.html", ("compare", "lenet5", "--no-latency")),
        ("sweep_why_convolutions.html", ("sweep", "why_convolutions", "--resolution", "16,32,64")),
    ],
)
def test_html_goldens(name: str, args: tuple[str, ...], golden) -> None:
    golden(name, invoke(*args, "--format", "html"))


def test_diff_page_marks_what_changed(tmp_path: Path, golden) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(invoke("compare", "lenet5", "--no-latency", "--format", "json"), encoding="utf-8")
    edited = tmp_path / "lenet5.yaml"
    edited.write_text(
        (ROOT / "specs" / "lenet5.yaml")
        .read_text(encoding="utf-8")
        .replace("out_features: 120", "out_features: 100"),
        encoding="utf-8",
    )
    new.write_text(invoke("compare", str(edited), "--no-latency", "--format", "json"), encoding="utf-8")
    os.chdir(tmp_path)  # the labels name the files as given: relative, the same in every run
    try:
        text = invoke("diff", "old.json", "new.json", "--format", "html", "--all")
        quiet = invoke("diff", "old.json", "old.json", "--format", "html")
    finally:
        os.chdir(ROOT)
    golden("diff_lenet5.html", text)
    page = parse(text)
    assert_inert(page, text)
    data = json.loads(invoke("diff", str(old), str(new), "--format", "json", "--all"))
    rows = page.by_id("totals").having("data-metric", "tr")
    assert len(rows) == sum(len(v["metrics"]) for v in data["variants"].values())
    for row in rows:
        change = data["variants"][row.attrs["data-variant"]]["metrics"][row.attrs["data-metric"]]
        assert (int(row.attrs["data-old"]), int(row.attrs["data-new"])) == (change["old"], change["new"])
        assert ("changed" in row.attrs.get("class", "")) == (change["old"] != change["new"])
    for name in ("conv", "local", "dense"):
        layers = page.by_id(f"layers-{name}").having("data-status", "tr")
        assert [(r.attrs["data-path"], r.attrs["data-status"]) for r in layers] == [
            (layer["path"], layer["status"]) for layer in data["variants"][name]["layers"]
        ]
    assert "No total and no layer changed." in parse(quiet).text()


def test_sweep_page_draws_every_point_of_every_metric() -> None:
    args = ("sweep", "lenet5", "--resolution", "32,64", "--batch-size", "1,4", "--training")
    text = invoke(*args, "--format", "html")
    data = json.loads(invoke(*args, "--format", "json"))
    page = parse(text)
    assert_inert(page, text)
    for key in ("params", "macs", "memory_bytes", "training_flops", "training_bytes"):
        panel = page.find_all("figure", lambda e, k=key: e.attrs.get("data-metric") == k)[0]
        dots = panel.having("data-value", "circle")
        assert len(dots) == 3 * len(data["points"])
        expected = Counter(
            (variant, point["variants"][variant][key])
            for point in data["points"]
            for variant in point["variants"]
        )
        assert Counter((d.attrs["data-variant"], int(d.attrs["data-value"])) for d in dots) == expected
    cells = page.by_id("points").having("data-value", "td")
    for cell in cells:
        point = data["points"][int(cell.attrs["data-point"])]
        assert (
            int(cell.attrs["data-value"])
            == point["variants"][cell.attrs["data-variant"]][cell.attrs["data-metric"]]
        )
    assert "∝ resolution^" in page.by_id("growth").text()


def test_a_schema_3_report_diffs_to_a_page(tmp_path: Path) -> None:
    new = tmp_path / "new.json"
    new.write_text(invoke("compare", "lenet5", "--no-latency", "--format", "json"), encoding="utf-8")
    text = invoke("diff", str(ROOT / "tests" / "data" / "lenet5_schema3.json"), str(new), "--format", "html")
    assert "No total and no layer changed." in parse(text).text()


def _on_a_terminal(*args: str) -> tuple[int, str, bytes]:
    """Run convprof with its standard output on a pseudo-terminal; return its code, stderr and output."""
    try:
        leader, follower = pty.openpty()
    except OSError as exc:  # a container without pseudo-terminals
        pytest.skip(f"no pseudo-terminal here: {exc}")
    try:
        process = subprocess.run(
            [*CONVPROF, *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
        os.set_blocking(leader, False)
        try:
            shown = os.read(leader, 1 << 16)
        except BlockingIOError:
            shown = b""
    finally:
        os.close(leader)
        os.close(follower)
    return process.returncode, process.stderr, shown


@pytest.mark.parametrize(
    "args",
    [
        ("compare", "why_convolutions", "--format", "html"),  # would measure first: refused before
        ("sweep", "why_convolutions", "--resolution", "16,32", "--format", "html"),
        ("diff", "tests/data/lenet5_schema3.json", "tests/data/lenet5_schema3.json", "--format", "html"),
    ],
)
def test_a_page_is_refused_on_a_terminal_in_one_line(args: tuple[str, ...]) -> None:
    code, stderr, shown = _on_a_terminal(*args)
    assert code == 2
    assert stderr == (
        "convprof: error: --format html writes a web page, not text for a terminal: give -o "
        "report.html, or send standard output to a pipe or a file\n"
    )
    assert shown == b""


def test_a_page_goes_to_a_pipe_and_to_a_file(tmp_path: Path) -> None:
    piped = subprocess.run(
        [*CONVPROF, "compare", "lenet5", "--no-latency", "--format", "html"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=True,
    )
    assert piped.stdout.startswith("<!DOCTYPE html>\n")
    assert piped.stdout.endswith("</html>\n")
    target = tmp_path / "report.html"
    code, stderr, _ = _on_a_terminal(
        "compare", "lenet5", "--no-latency", "--format", "html", "-o", str(target)
    )
    assert (code, stderr) == (0, f"convprof: wrote {target}\n")
    assert target.read_text(encoding="utf-8") == piped.stdout


@pytest.mark.parametrize("command", [("merge", "tests/data/lenet5_schema3.json"), ("check", "lenet5")])
def test_commands_without_a_page_refuse_html(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--format", "html"])
    assert result.exit_code == 2
    assert "'html' is not one of" in result.output

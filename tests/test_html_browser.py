"""HTML reports opened in a real browser: headless Chromium, offline, driven over its DevTools protocol.

Each page must load with no console error, no exception, no refused resource and no request but its
own file; its charts, graph and tables must be drawn (present, with a size); what the browser built
must carry the JSON report's figures (tests/test_html.py's check, on the browser's own DOM); its
controls must work; a hostile name must stay text. A screenshot of each page is kept under
test-artifacts/ (git-ignored; the paths are listed at the end of the run): the whole page, but for
the examples beyond QUICK, whose first screen is kept. Without Chromium these
tests skip: `apt-get install chromium` (Debian), or CONVPROF_CHROMIUM=/path/to/chrome.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from convprof.spec.examples import example_names
from tests.browser import ARTIFACTS, Browser, find_chromium
from tests.conftest import ROOT
from tests.html_page import parse
from tests.processes import CONVPROF
from tests.test_html import HOSTILE_DESCRIPTION, HOSTILE_LAYER, HOSTILE_NAME, HOSTILE_SPEC, check_figures

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found: apt-get install chromium (Debian), or set CONVPROF_CHROMIUM",
)
#: Screenshots of the pages, kept as test artifacts.
SHOTS = ARTIFACTS / "html"
#: Run in every page before its own script: any dialog a page opened, or script it ran, is recorded.
TRAPS = """
window.__dialogs = [];
["alert", "confirm", "prompt", "print", "open"].forEach(function (name) {
  window[name] = function (message) { window.__dialogs.push(name + ": " + message); };
});
"""
#: Examples checked in every run; the slow test checks all of them.
QUICK = ("why_convolutions", "lenet5", "resnet50", "unet")

# Everything a page draws, as the browser laid it out: how many, and how many have no size.
_PROBE = """
(function () {
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  // A box needs a width and a height; a line (an edge straight down) one of them.
  function measure(selector, line) {
    var found = Array.prototype.slice.call(document.querySelectorAll(selector));
    return {
      count: found.length,
      empty: found.filter(function (e) {
        var box = e.getBoundingClientRect();
        return line ? !(box.width > 0 || box.height > 0) : !(box.width > 0 && box.height > 0);
      }).length
    };
  }
  var parts = {
    summary: "#summary table.totals td[data-metric]",
    bars: "#cost rect[data-value]:not([data-value='']):not([data-value='0'])",
    unknown: "#cost rect.unknown",
    // A line of one point has no size: its dot is what shows it.
    live: "#live polyline[points*=' '], #live circle",
    steps: "details.step polyline",
    held: "details.step tr[data-role]",
    graph: "#graph rect[data-node]",
    edges: "#graph path[marker-end]",
    field: "#rf rect[data-rf]",
    layers: "#layers-table tbody tr",
  };
  var sizes = {};
  Object.keys(parts).forEach(function (key) {
    sizes[key] = measure(parts[key], ["live", "steps", "edges"].indexOf(key) >= 0);
  });
  var handlers = Array.prototype.slice.call(document.querySelectorAll("*")).filter(function (e) {
    return Array.prototype.slice.call(e.attributes).some(function (a) { return a.name.indexOf("on") === 0; });
  }).length;
  return {
    sizes: sizes,
    dialogs: window.__dialogs,
    scripts: document.scripts.length,
    foreign: document.querySelectorAll("img, iframe, object, embed, link, b").length,
    handlers: handlers,
    html: document.documentElement.outerHTML
  };
})()
"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium a worker, for the whole run: a module's fixture would start another each time
    the worker came back to this module from other tests (about 2.5 s of CPU a start)."""
    assert CHROMIUM is not None
    with Browser(CHROMIUM) as opened:
        opened.before_load(TRAPS)
        yield opened


def _convprof(*args: str) -> str:
    process = subprocess.run(
        [*CONVPROF, *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    return process.stdout


def _open(browser: Browser, page: Path, shot: str, *, whole: bool = True) -> dict[str, Any]:
    """Open `page` and return what the probe found; assert it loaded offline, cleanly and safely.
    Its screenshot is the whole page (`whole`, to 9,000 pixels) or its first screen (a whole-page
    shot costs Chromium about a second of CPU)."""
    browser.open(page)
    found: dict[str, Any] = browser.evaluate(_PROBE)
    assert browser.errors() == [], browser.errors()
    assert browser.requests() == [page.resolve().as_uri()]
    assert found["dialogs"] == []
    assert (found["scripts"], found["foreign"], found["handlers"]) == (1, 0, 0)
    saved = browser.screenshot(SHOTS / f"{shot}.png", full_page=whole, max_height=9000)
    print(f"screenshot: {saved}")
    return found


def _compare(
    browser: Browser, tmp_path: Path, spec: str, shot: str, *extra: str, whole: bool = True
) -> dict[str, Any]:
    """Write `spec`'s page and JSON report with the CLI, open the page, check every figure in it."""
    report = json.loads(_convprof("compare", spec, "--no-latency", "--format", "json", *extra))
    page = tmp_path / f"{shot}.html"
    _convprof("compare", spec, "--no-latency", "--format", "html", "-o", str(page), *extra)
    found = _open(browser, page, shot, whole=whole)
    depth = int(extra[extra.index("--depth") + 1]) if "--depth" in extra else None
    check_figures(report, parse(found["html"]), depth)
    sizes = found["sizes"]
    layers = len(report["variants"]["conv"]["layers"])
    assert sizes["summary"]["count"] == 30
    assert sizes["live"]["count"] >= 3
    assert sizes["steps"]["count"] == 3
    assert sizes["graph"]["count"] >= 1
    assert sizes["edges"]["count"] >= sizes["graph"]["count"]
    assert sizes["held"]["count"] == sum(len(v["training_peak_tensors"]) for v in report["variants"].values())
    if depth is None:
        assert sizes["graph"]["count"] == layers
    for part, size in sizes.items():
        assert size["empty"] == 0, f"{shot}: {size['empty']} of {size['count']} {part} drawn with no size"
    return found


@pytest.mark.parametrize("name", QUICK)
def test_example_pages_in_a_browser(browser: Browser, tmp_path: Path, name: str) -> None:
    found = _compare(browser, tmp_path, name, name)
    assert found["sizes"]["bars"]["count"] > 0
    assert found["sizes"]["field"]["count"] == 6  # three units, each the input and what it sees


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in example_names() if name not in QUICK])
def test_every_example_page_in_a_browser(browser: Browser, tmp_path: Path, name: str) -> None:
    _compare(browser, tmp_path, name, name, whole=False)  # QUICK's pages are shot whole


@pytest.mark.parametrize(("name", "depth"), [("resnet50", "1"), ("unet", "0")])
def test_folded_pages_in_a_browser(browser: Browser, tmp_path: Path, name: str, depth: str) -> None:
    _compare(browser, tmp_path, name, f"{name}-depth{depth}", "--depth", depth)


@pytest.mark.slow
def test_an_imported_model_with_opaque_ops_in_a_browser(browser: Browser, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    reference = "tests/importable_models.py:AttentionCNN"
    found = _compare(browser, tmp_path, reference, "attention-cnn", "--input", "3x8x8", "--allow-unknown")
    # Four opaque ops whose MACs are unknown in every variant: hatched, never a zero-length bar.
    assert found["sizes"]["unknown"]["count"] == 4 * 3


def test_a_hostile_name_stays_text_in_a_browser(browser: Browser, tmp_path: Path) -> None:
    spec = tmp_path / "hostile.yaml"
    spec.write_text(HOSTILE_SPEC, encoding="utf-8")
    _compare(browser, tmp_path, str(spec), "hostile")
    shown = browser.evaluate(
        "[document.title, document.querySelector('h1').textContent, "
        "document.querySelector('header .meta').textContent, "
        "Array.prototype.map.call(document.querySelectorAll('#layers-table td.name'), "
        "function (td) { return td.textContent; })]"
    )
    assert shown[0] == f"convprof: {HOSTILE_NAME}"
    assert shown[1].startswith(HOSTILE_NAME)
    assert shown[2].startswith(HOSTILE_DESCRIPTION)
    assert HOSTILE_LAYER in shown[3]
    assert "<!-- x -->" in shown[3]


def _point(browser: Browser, selector: str) -> tuple[float, float]:
    """Scroll an element into view and return its centre in the viewport."""
    # Measured two frames after scrolling, once the scroll's own events (which hide a tooltip) are over.
    box = browser.evaluate(
        f"new Promise(function (done) {{ var e = document.querySelector({json.dumps(selector)}); "
        "e.scrollIntoView({block: 'center', inline: 'center'}); "
        "requestAnimationFrame(function () { requestAnimationFrame(function () { "
        "var r = e.getBoundingClientRect(); done([r.left + r.width / 2, r.top + r.height / 2]); }); }); })",
        wait=True,
    )
    return float(box[0]), float(box[1])


def test_the_controls_work_in_a_browser(browser: Browser, tmp_path: Path) -> None:
    _compare(browser, tmp_path, "resnet50", "resnet50-controls")
    # A tooltip on hovering a graph node, with the node's figures, set as text.
    x, y = _point(browser, "#graph rect[data-node='layer1.0.conv2']")
    browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y}, session=True)
    tip = browser.evaluate(
        "[document.getElementById('tip').hidden, document.getElementById('tip').textContent]"
    )
    assert tip[0] is False
    assert tip[1].startswith("layer1.0.conv2 (Conv2d, output 64x56x56)")
    # A chart's tooltip follows the pointer from point to point: the first layer's forward, then
    # the optimizer's step at the right end of the training step's chart.
    selector = "details.step[data-variant='conv'] rect.hover"
    x, y = _point(browser, selector)
    width = browser.evaluate(f"document.querySelector({json.dumps(selector)}).getBoundingClientRect().width")
    shown = []
    for at in (x - width / 2 + 1, x + width / 2 - 1):
        browser.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": at, "y": y}, session=True)
        shown.append(browser.evaluate("document.getElementById('tip').textContent"))
    assert shown[0].startswith("forward of conv1: ")
    assert shown[1].startswith("optimizer's step: ")
    # Folding a block of the layer tree hides its rows; expanding all shows them again.
    count_hidden = "document.querySelectorAll('#layers-table tr[hidden]').length"
    x, y = _point(browser, "#layers-table tr[data-path='layer1'] td.name")
    for kind in ("mousePressed", "mouseReleased"):
        browser.call(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            session=True,
        )
    inside = browser.evaluate(
        "Array.prototype.filter.call(document.querySelectorAll('#layers-table tr[data-path]'), "
        "function (r) { return r.getAttribute('data-path').indexOf('layer1.') === 0; }).length"
    )
    assert inside == 36  # layer1's 3 blocks, a downsample block and 32 layers
    assert browser.evaluate(count_hidden) == inside
    browser.evaluate("document.querySelector('[data-tree-action=\"expand\"]').click()")
    assert browser.evaluate(count_hidden) == 0
    browser.evaluate("document.querySelector('[data-tree-action=\"collapse\"]').click()")
    assert browser.evaluate(count_hidden) > 150
    # The graph recoloured by another figure; the receptive field of another layer.
    fills = browser.evaluate(
        "(function () { var s = document.getElementById('graph-colour'); s.value = 'dense-params'; "
        "s.dispatchEvent(new Event('change')); return Array.prototype.every.call("
        "document.querySelectorAll('#graph rect[data-node]'), function (n) { "
        "return n.getAttribute('fill') === n.getAttribute('data-fill-dense-params'); }); })()"
    )
    assert fills is True
    sees = browser.evaluate(
        "(function () { var s = document.getElementById('rf-layer'); s.selectedIndex = 4; "
        "s.dispatchEvent(new Event('change')); return [s.options[4].getAttribute('data-conv-sees'), "
        "document.querySelector('#rf [data-rf=conv-sees]').textContent, "
        "document.querySelector('#rf rect[data-rf=conv-seen]').getAttribute('width'), "
        "s.options[4].getAttribute('data-conv-seen').split(',')[2]]; })()"
    )
    assert sees[0] == sees[1]
    assert sees[2] == sees[3]
    assert browser.errors() == []


def test_a_page_prints_whole(browser: Browser, tmp_path: Path) -> None:
    _compare(browser, tmp_path, "resnet50", "resnet50-print")
    browser.evaluate("document.querySelector('[data-tree-action=\"collapse\"]').click()")
    browser.call("Emulation.setEmulatedMedia", {"media": "print"}, session=True)
    try:
        shown = browser.evaluate(
            "[getComputedStyle(document.querySelector('#layers-table tr[hidden]')).display, "
            "getComputedStyle(document.querySelector('nav')).display, "
            "getComputedStyle(document.querySelector('#graph .chart')).overflow]"
        )
        assert shown == ["table-row", "none", "visible"]  # folded rows, navigation, scrolling
        pdf = browser.call("Page.printToPDF", {"printBackground": True}, session=True)["data"]
        assert len(pdf) > 10_000
    finally:
        browser.call("Emulation.setEmulatedMedia", {"media": ""}, session=True)


def test_diff_and_sweep_pages_in_a_browser(browser: Browser, tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(_convprof("compare", "resnet18", "--no-latency", "--format", "json"), encoding="utf-8")
    new.write_text(_convprof("compare", "resnet50", "--no-latency", "--format", "json"), encoding="utf-8")
    page = tmp_path / "diff.html"
    _convprof("diff", str(old), str(new), "--format", "html", "-o", str(page), "--all")
    found = _open(browser, page, "diff-resnet18-resnet50")
    marked = browser.evaluate(
        "['added', 'removed', 'changed'].map(function (s) { "
        "return document.querySelectorAll('#layers-conv tr.' + s).length; })"
    )
    assert all(count > 0 for count in marked), marked
    assert "changed" in found["html"]
    page = tmp_path / "sweep.html"
    _convprof(
        "sweep",
        "lenet5",
        "--resolution",
        "32,64,128",
        "--width",
        "0.5,1",
        "--training",
        "--format",
        "html",
        "-o",
        str(page),
    )
    _open(browser, page, "sweep-lenet5")
    dots = browser.evaluate(
        "Array.prototype.filter.call(document.querySelectorAll('figure svg circle[data-value]'), "
        "function (c) { var r = c.getBoundingClientRect(); return r.width > 0 && r.height > 0; }).length"
    )
    assert dots == 5 * 3 * 6  # five metrics, three variants, six points


def test_a_measured_page_in_a_browser(browser: Browser, tmp_path: Path) -> None:
    from convprof.commands.sources import load_spec
    from convprof.render.html.compare import compare_html
    from convprof.report.analyze import analyze
    from tests.reports import environment, measured, trained

    report = measured(
        analyze(load_spec("lenet5")),
        {"dense": {"cpu": 4.0}, "local": {"cpu": 0.3}, "conv": {"cpu": 0.1}},
        environment("Test CPU", 1, "2.13.0"),
    )
    report = trained(report, {"dense": {"cpu": 30.0}, "local": {"cpu": 9.0}, "conv": {"cpu": 1.0}})
    page = tmp_path / "measured.html"
    page.write_text(compare_html(report, layers=True), encoding="utf-8")
    found = _open(browser, page, "lenet5-measured")
    check_figures(report.to_dict(), parse(found["html"]))
    lines = browser.evaluate(
        "Array.prototype.map.call(document.querySelectorAll('line[data-marker=\"measured-cpu\"]'), "
        "function (l) { var r = l.getBoundingClientRect(); return [l.getAttribute('data-value'), r.width]; })"
    )
    assert [value for value, _ in lines] == ["2048"] * 3  # the peak tests/reports.py records
    assert all(width > 0 for _, width in lines)

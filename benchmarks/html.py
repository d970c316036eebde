"""Cost of the HTML report: writing it torch-free, its size, and opening and scrolling it in a browser.

    python benchmarks/html.py [--runs 7] [--browser-runs 3]

1. `convprof compare resnet50 --no-latency --format html -o FILE` as a whole process, interleaved with
   the same command writing JSON (targets: under 0.5 s, under 2 MB; torch never imported), and the
   page alone rendered from the finished report inside one process;
2. the same on a generated graph of about 2,000 nodes (residual blocks, benchmarks/graph.py);
3. both pages opened in headless Chromium (tests/browser.py; skipped without it): the seconds from
   navigating to the load event, and scrolling through the whole page and through the graph's own
   scrolling box 200 px per animation frame (a brisk mouse wheel), top to bottom: the frame
   intervals' median, 95th percentile and worst (a frame at 60 Hz is 16.7 ms).

Whole processes run with bytecode caches, as an installed convprof does; every figure is a median of
interleaved runs in one session, so ratios hold on a noisy machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.graph import CHILD_ENV, residual_spec, run_once  # noqa: E402 - after the path is set
from tests.browser import Browser, find_chromium  # noqa: E402

#: A child that runs the command line and fails if anything imported torch.
NO_TORCH = """
import atexit, os, sys
def _check():
    if "torch" in sys.modules:
        os.write(2, b"torch was imported\\n")
        os._exit(3)
atexit.register(_check)
from convprof.__main__ import main
main()
"""
RENDER = """
import sys, time
from convprof.graph.analyze import analyze
from convprof.render.html.compare import compare_html
from convprof.commands.sources import load_spec
report = analyze(load_spec(sys.argv[1]))
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    compare_html(report, layers=True)
    times.append(time.perf_counter() - start)
times.sort()
print(times[len(times) // 2])
"""
# Scroll `target` (the page, or an element) by STEP px per animation frame to its end, and return the
# intervals between the frames.
SCROLL = """
new Promise(function (done) {
  var box = %s;
  var page = box === null;
  var element = page ? document.scrollingElement : box;
  element.scrollTop = 0;
  var step = %d;
  var frames = [];
  var last = null;
  function tick(now) {
    if (last !== null) frames.push(now - last);
    last = now;
    if (element.scrollTop + (page ? window.innerHeight : element.clientHeight) >= element.scrollHeight - 1) {
      done({frames: frames, height: element.scrollHeight});
      return;
    }
    element.scrollTop += step;
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
})
"""


#: Pixels scrolled per animation frame.
STEP = 200


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def browse(pages: dict[str, Path], runs: int) -> None:
    """Open each page `runs` times (interleaved) and print its load and scrolling figures."""
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium: the browser figures are left out (apt-get install chromium)")
        return
    loads: dict[str, list[float]] = {name: [] for name in pages}
    scrolls: dict[tuple[str, str], list[float]] = {}
    heights: dict[tuple[str, str], int] = {}
    with Browser(chromium) as browser:
        for _ in range(runs):
            for name, page in pages.items():
                loads[name].append(browser.open(page))
                if browser.errors():
                    raise SystemExit(f"{name}: {browser.errors()}")
                for where, target in (("page", "null"), ("graph", "document.querySelector('#graph .chart')")):
                    found: dict[str, Any] = browser.evaluate(SCROLL % (target, STEP), wait=True)
                    scrolls.setdefault((name, where), []).extend(found["frames"])
                    heights[(name, where)] = found["height"]
    print(f"\nChromium {chromium}, {runs} opens each, interleaved")
    print(f"{'page':28} {'load median s':>14} {'min s':>7} {'max s':>7}")
    for name, samples in loads.items():
        print(f"{name:28} {statistics.median(samples):14.3f} {min(samples):7.3f} {max(samples):7.3f}")
    print(
        f"{'scrolling 200 px a frame':28} {'height px':>10} {'frames':>7} {'median ms':>10} "
        f"{'p95 ms':>7} {'worst':>7}"
    )
    for (name, where), frames in scrolls.items():
        if not frames:  # shorter than a screen: nothing to scroll
            continue
        print(
            f"{name + ' (' + where + ')':28} {heights[(name, where)]:10} {len(frames):7} "
            f"{statistics.median(frames):10.1f} {_percentile(frames, 0.95):7.1f} {max(frames):7.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--browser-runs", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        graph = folder / "residual2000.yaml"
        graph.write_text(residual_spec(2000), encoding="utf-8")
        convprof = [sys.executable, "-c", NO_TORCH, "compare"]
        commands = {}
        outputs = {}
        for name, spec in (("resnet50", "resnet50"), ("residual ~2,000 nodes", str(graph))):
            for fmt in ("html", "json"):
                outputs[(name, fmt)] = folder / f"{name.split()[0]}.{fmt}"
                commands[f"{name} {fmt}"] = [
                    *convprof,
                    spec,
                    "--no-latency",
                    "--format",
                    fmt,
                    "-o",
                    str(outputs[(name, fmt)]),
                ]
        walls: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(options.runs + 1):  # the first round warms caches and is not counted
            for name, command in commands.items():
                wall = run_once(command)
                if round_:
                    walls[name].append(wall)
        print(f"{options.runs} fresh processes each after a warm-up, interleaved; {os.cpu_count()} CPUs")
        print(f"{'whole process, torch-free':32} {'median s':>9} {'min s':>7} {'max s':>7} {'output':>10}")
        for (name, fmt), path in outputs.items():
            samples = walls[f"{name} {fmt}"]
            size = f"{path.stat().st_size / 2**20:.2f} MiB"
            print(
                f"{name + ' ' + fmt:32} {statistics.median(samples):9.3f} {min(samples):7.3f} "
                f"{max(samples):7.3f} {size:>10}"
            )
        print(f"\n{'the page alone, in one process':32} {'median s':>9}")
        for name, spec in (("resnet50", "resnet50"), ("residual ~2,000 nodes", str(graph))):
            seconds = subprocess.run(
                [sys.executable, "-c", RENDER, spec, "5"],
                cwd=ROOT,
                env=CHILD_ENV,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            print(f"{name:32} {float(seconds):9.3f}")
        browse(
            {name: outputs[(name, "html")] for name in ("resnet50", "residual ~2,000 nodes")},
            options.browser_runs,
        )


if __name__ == "__main__":
    main()

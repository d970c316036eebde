"""Hostile and huge inputs: each must work or be refused clearly, within seconds and bounded memory.

    python benchmarks/hostile.py

Every spec case runs `convprof compare FILE --no-latency --format json` in a fresh process, and the
report cases `convprof diff`; each row records the exit code, wall time and peak resident memory
(kernel accounting of the finished child).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analytic import CHILD_ENV, layered_spec


def alias_bomb() -> str:
    text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
    return text + "input: [3, 8, 8]\nlayers: *i\n"


def merge_chain(levels: int) -> str:
    lines = ["a0: &a0 {x: 1}"] + [f"a{i}: &a{i}\n  <<: *a{i - 1}" for i in range(1, levels)]
    return "\n".join(lines) + "\ninput: [3, 8, 8]\nlayers: [relu]\n"


def many_nodes() -> str:
    """A document of more than 2,000,000 nodes written out (no alias), under 16 MiB."""
    return "input: [3, 8, 8]\nlayers: [" + "relu," * 2_100_000 + "relu]\n"


CASES: dict[str, Callable[[], str]] = {
    "10,000 layers": lambda: layered_spec(10_000),
    "conv with 10^12 output channels": lambda: (
        "input: [3, 224, 224]\nlayers:\n  - conv2d: {out_channels: 1000000000000, kernel_size: 3}\n"
        "  - adaptiveavgpool2d: {output_size: 1}\n  - flatten\n  - linear: {out_features: 1000}\n"
    ),
    "100 MB YAML file": lambda: "input: [3, 8, 8]\nlayers:\n",  # streamed to 100 MB below
    "nesting 1,000,000 deep": lambda: "input: [3, 8, 8]\nlayers: " + "[" * 10**6 + "]" * 10**6 + "\n",
    "alias bomb (9^9 nodes)": alias_bomb,
    "recursive alias": lambda: "input: [3, 8, 8]\nlayers: &a [relu, *a]\n",
    "2,100,000 nodes written out (10 MB)": many_nodes,
    "adaptive pool, output_size 10^7": lambda: (
        "input: [3, 8, 8]\nlayers:\n  - adaptiveavgpool2d: {output_size: 10000000}\n"
    ),
    "adaptive pool, output_size 2^63-1 x 1": lambda: (
        "input: [1, 2, 3]\nlayers:\n  - adaptivemaxpool2d: {output_size: [9223372036854775807, 1]}\n"
    ),
    "merge-key chain 990 deep": lambda: merge_chain(990),
    "batch_size of 5,000 digits": lambda: (
        "input: [3, 8, 8]\nbatch_size: " + "9" * 5000 + "\nlayers: [relu]\n"
    ),
    "!!int abc": lambda: "input: [3, 8, 8]\nbatch_size: !!int abc\nlayers: [relu]\n",
}


def run(name: str, command: list[str]) -> None:
    """Run one case in a fresh process and print its exit code, wall time and peak RSS."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=CHILD_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    first = stderr.splitlines()[0].split(": ", 2)[-1][:60] if stderr else ""
    print(f"{name:34} {code:>4} {wall:7.2f} {usage.ru_maxrss / 1024:13.1f}  {first}")


def main() -> None:
    print(f"{'case':34} {'exit':>4} {'wall s':>7} {'peak RSS MiB':>13}  first line of stderr")
    convprof = [sys.executable, "-m", "convprof"]
    with tempfile.TemporaryDirectory() as directory:
        for name, make in CASES.items():
            path = Path(directory) / "spec.yaml"
            with path.open("w") as handle:
                handle.write(make())
                if name.startswith("100 MB"):
                    # In chunks: a child's peak RSS includes the parent's pages at fork time.
                    for _ in range(100):
                        handle.write("  - relu\n" * (2**20 // 9))
            run(name, [*convprof, "compare", str(path), "--no-latency", "--format", "json"])
        # Saved reports are read back by diff, merge and check --baseline: a huge one and an oversized one.
        spec, report = Path(directory) / "deep.yaml", Path(directory) / "deep.json"
        spec.write_text(layered_spec(10_000))
        subprocess.run(
            [*convprof, "compare", str(spec), "--no-latency", "--format", "json", "-o", str(report)],
            env=CHILD_ENV,
            check=True,
            capture_output=True,
        )
        run(
            "diff of two 10,000-layer reports",
            [*convprof, "diff", str(report), str(report), "--format", "json"],
        )
        big = Path(directory) / "big.json"
        with big.open("w") as handle:
            handle.write('{"schema_version": 1, "padding": "')
            for _ in range(300):
                handle.write("x" * 2**20)
            handle.write('"}')
        run("diff of a 300 MB report", [*convprof, "diff", str(big), str(report)])
        good = report.read_text(encoding="utf-8")
        hostile = {
            "report nested 100,000 deep": '{"schema_version": 1, "x": ' + "[" * 10**5 + "]" * 10**5 + "}",
            "report with a 5,000-digit count": good.replace('"params": ', '"params": ' + "9" * 5000, 1),
            "report with a NaN median": good.replace(
                '"latency": null', '"latency": {"cpu": {"median_ms": NaN}}', 1
            ),
            "report with a lone surrogate": good.replace('"name": "', '"name": "\\ud800', 1),
        }
        for name, text in hostile.items():
            path = Path(directory) / "hostile.json"
            path.write_text(text, encoding="utf-8")
            run(name, [*convprof, "diff", str(report), str(path)])
        # -o onto things that are not regular files: written in place, never replaced.
        fifo = Path(directory) / "fifo"
        os.mkfifo(fifo)
        run("-o onto a FIFO nobody reads", [*convprof, "compare", "lenet5", "--no-latency", "-o", str(fifo)])
        run("-o /dev/null", [*convprof, "compare", "lenet5", "--no-latency", "-o", "/dev/null"])
        run("-o /dev/full", [*convprof, "compare", "lenet5", "--no-latency", "-o", "/dev/full"])


if __name__ == "__main__":
    main()

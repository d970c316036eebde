"""Hostile and huge inputs: each must work or be refused clearly, within seconds and bounded memory.

    python benchmarks/hostile.py

Every spec case runs `convprof compare FILE --no-latency --format json` in a fresh process, and the
report cases `convprof diff`; each row records the exit code, wall time and peak resident memory
(kernel accounting of the finished child). The last rows are the cases of the third round: reports
of 100 and 60 MB of latency samples, FIFOs, a planted link, stdout past `ulimit -f` and a model that
prints (this one imports torch).
"""

from __future__ import annotations

import json
import os
import resource
import signal
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


def run(
    name: str,
    command: list[str],
    *,
    stdout: int = subprocess.DEVNULL,
    preexec: Callable[[], None] | None = None,
    cwd: Path | None = None,
) -> None:
    """Run one case in a fresh process and print its exit code, wall time and peak RSS."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=CHILD_ENV, stdout=stdout, stderr=subprocess.PIPE, preexec_fn=preexec, cwd=cwd
    )
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    lines = [line for line in stderr.splitlines() if line.startswith("convprof: error")]
    first = lines[0].split(": ", 2)[-1][:60] if lines else ""
    print(f"{name:34} {code:>4} {wall:7.2f} {usage.ru_maxrss / 1024:13.1f}  {first}")


def inflated(good: str, path: Path, megabytes: int) -> int:
    """Write the measured report `good` with its first measurement's raw samples grown to `megabytes`
    MB, streamed (the child's peak RSS would count the benchmark's own pages otherwise); return how
    many samples it holds."""
    head, _, tail = good.partition('"raw_ms": [')
    _, _, tail = tail.partition("]")
    sample = "0.123456,"
    count = megabytes * 10**6 // len(sample)
    chunk = sample * 100_000
    with path.open("w", encoding="utf-8") as handle:
        handle.write(head + '"raw_ms": [')
        for _ in range(count // 100_000):
            handle.write(chunk)
        handle.write("0.123456]" + tail)
    return count // 100_000 * 100_000 + 1


def third_round(convprof: list[str], directory: Path) -> None:
    """The cases of the third round of hostile input."""
    measured = directory / "measured.json"
    subprocess.run(
        [
            *convprof,
            "compare",
            "lenet5",
            "--device",
            "cpu",
            "--quick",
            "--format",
            "json",
            "-o",
            str(measured),
        ],
        env=CHILD_ENV,
        check=True,
        capture_output=True,
    )
    good = measured.read_text(encoding="utf-8")
    for megabytes in (100, 60):
        path = directory / f"samples-{megabytes}.json"
        count = inflated(good, path, megabytes)
        run(
            f"report of {megabytes} MB ({count / 1e6:.1f} M samples)",
            [*convprof, "diff", str(measured), str(path)],
        )
        path.unlink()
    most = json.loads(good)
    entry = most["variants"]["conv"]["latency"]["cpu"]
    entry["raw_ms"], entry["raw_rounds"] = [entry["median_ms"]] * 10_000, [0] * 10_000
    path = directory / "most.json"
    path.write_text(json.dumps(most), encoding="utf-8")
    run("report of 10,000 samples (the most)", [*convprof, "diff", str(measured), str(path)])
    entry["raw_ms"], entry["raw_rounds"] = [1e308] * 5, [0] * 5
    path.write_text(json.dumps(most), encoding="utf-8")
    run("report with samples of 1e308 ms", [*convprof, "diff", str(measured), str(path)])
    fifo = directory / "fifo.yaml"
    os.mkfifo(fifo)
    run("spec that is a FIFO with no writer", [*convprof, "compare", str(fifo), "--no-latency"])
    run("report that is a FIFO with no writer", [*convprof, "diff", str(measured), str(fifo)])
    baselines = directory / "baselines"
    baselines.mkdir()
    os.mkfifo(baselines / "lenet5.json")
    run(
        "--baseline directory holding a FIFO",
        [*convprof, "check", "lenet5", "--baseline", str(baselines), "--max-growth", "params=0%"],
    )
    reports, outside = directory / "reports", directory / "outside.txt"
    reports.mkdir()
    outside.write_text("precious\n", encoding="utf-8")
    (reports / "lenet5.json").symlink_to(outside)
    run(
        "--write-reports onto a planted link", [*convprof, "check", "lenet5", "--write-reports", str(reports)]
    )
    assert outside.read_text(encoding="utf-8") == "precious\n"

    def limited() -> None:  # `ulimit -f 16`, SIGXFSZ as a shell leaves it
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, resource.RLIM_INFINITY))
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)

    out = directory / "out.json"
    with out.open("wb") as handle:
        run(
            "stdout past ulimit -f (resnet50 JSON)",
            [*convprof, "compare", "resnet50", "--no-latency", "--format", "json"],
            stdout=handle.fileno(),
            preexec=limited,
        )
    assert out.stat().st_size == 0
    (directory / "net.py").write_text(
        "import torch\nprint('printed at import')\n\n"
        "def net():\n    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())\n",
        encoding="utf-8",
    )
    spec = directory / "net.yaml"
    with spec.open("wb") as handle:
        run(
            "import of a model that prints",
            [*convprof, "import", "net.py:net", "--input", "3x8x8"],
            stdout=handle.fileno(),
            cwd=directory,
        )
    assert "printed" not in spec.read_text(encoding="utf-8")


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
        third_round(convprof, Path(directory))


if __name__ == "__main__":
    main()

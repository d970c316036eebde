"""`convprof compare lenet5 --preset quick` as a whole process, beside importing torch alone.

    python benchmarks/quick.py --runs 7

Fresh processes taking turns (quick compare, bare `import torch`, ...) after one warm-up round, with
bytecode caches as an installed convprof runs (PYTHONDONTWRITEBYTECODE removed). Prints the median,
minimum and maximum wall time and CPU time of each, and the median of the paired differences: what
the quick measurement costs beyond loading torch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analytic import CHILD_ENV, ROOT

COMMANDS = {
    "compare lenet5 --preset quick": [
        sys.executable,
        "-m",
        "convprof",
        "compare",
        "lenet5",
        "--preset",
        "quick",
        "--format",
        "json",
    ],
    "import torch": [sys.executable, "-c", "import torch"],
}


def run_once(command: list[str]) -> tuple[float, float]:
    """Return (wall seconds, CPU seconds) of one fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=CHILD_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for round_ in range(runs + 1):
        for name, command in COMMANDS.items():
            sample = run_once(command)
            if round_:
                samples[name].append(sample)
    print(f"load average {os.getloadavg()[0]:.2f}; {runs} runs each")
    print("| command | median wall | min | max | median CPU |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, found in samples.items():
        walls = [w for w, _ in found]
        cpus = [c for _, c in found]
        print(
            f"| `{name}` | {statistics.median(walls):.2f} s | {min(walls):.2f} s | {max(walls):.2f} s "
            f"| {statistics.median(cpus):.2f} s |"
        )
    quick, bare = samples.values()
    extra = statistics.median(q[0] - b[0] for q, b in zip(quick, bare, strict=True))
    print(f"median paired difference (the measurement beyond importing torch): {extra:.2f} s")


if __name__ == "__main__":
    main()

"""Nothing convprof reads can make it wait forever: FIFOs without a writer, devices, a stdin that never
ends. Every case runs convprof in a child process and must end within seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.processes import CONVPROF, as_a_background_job, as_a_foreground_job, reap

#: A refusal takes well under a second; this bounds a loaded machine's start-up and nothing else.
ENDS_WITHIN_S = 20.0


def _fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)  # nobody ever writes to it
    return path


def _report(tmp_path: Path) -> Path:
    path = tmp_path / "good.json"
    subprocess.run(
        [*CONVPROF, "compare", "lenet5", "--no-latency", "--format", "json", "-o", str(path)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return path


def _spec(command: str, *more: str) -> Callable[[Path], tuple[list[str], str]]:
    return lambda t: ([command, str(_fifo(t, "spec.yaml")), *more], "spec.yaml: is a FIFO")


CASES: dict[str, Callable[[Path], tuple[list[str], str]]] = {
    "compare-fifo-spec": _spec("compare", "--no-latency"),
    "check-fifo-spec": _spec("check"),
    "sweep-fifo-spec": _spec("sweep", "--width", "1,2"),
    "compare-device-spec": lambda t: (["compare", "/dev/zero", "--no-latency"], "/dev/zero: is a character"),
    "diff-fifo-report": lambda t: (
        ["diff", str(_report(t)), str(_fifo(t, "new.json"))],
        "new.json: is a FIFO",
    ),
    "merge-fifo-report": lambda t: (["merge", str(_fifo(t, "a.json"))], "a.json: is a FIFO"),
    "baseline-fifo": lambda t: (
        ["check", "lenet5", "--baseline", str(_fifo(t, "base.json")), "--max-growth", "params=0%"],
        "base.json: is a FIFO",
    ),
    "baseline-directory-holding-a-fifo": lambda t: (
        ["check", "lenet5", "--baseline", str(_fifo(t, "lenet5.json").parent), "--max-growth", "params=0%"],
        "lenet5.json: is a FIFO",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=CASES.keys())
def test_what_is_not_a_regular_file_is_refused_at_once(case: str, tmp_path: Path) -> None:
    args, phrase = CASES[case](tmp_path)
    start = time.monotonic()
    process = subprocess.run(
        [*CONVPROF, *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=ENDS_WITHIN_S * 3,
        check=False,
    )
    assert time.monotonic() - start < ENDS_WITHIN_S
    assert process.returncode == 2, process.stderr
    (line,) = process.stderr.splitlines()
    assert line.startswith("convprof: error: ")
    assert phrase in line
    assert "not a regular file" in line
    assert process.stdout == ""


DISPOSITIONS = {"foreground": as_a_foreground_job, "background": as_a_background_job}
SIGNALS = {"SIGINT": (signal.SIGINT, 130), "SIGTERM": (signal.SIGTERM, 143)}


#: Seconds the runs are given to start and block on their stdin (a new interpreter gets there in 0.3 s).
STARTED_S = 1.0


def test_a_signal_ends_a_read_of_stdin_that_never_ends() -> None:
    # Standard input held open by a writer that never writes nor closes it. A background job
    # (SIGINT ignored by the shell that started it) waiting on it would have ignored Ctrl-C forever.
    # Each job disposition with each signal, the four runs side by side.
    runs = []
    try:
        for job, preexec in DISPOSITIONS.items():
            for signal_name, (signum, status) in SIGNALS.items():
                read_end, write_end = os.pipe()
                process = subprocess.Popen(
                    [*CONVPROF, "compare", "-", "--no-latency"],
                    stdin=read_end,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    preexec_fn=preexec,
                )
                os.close(read_end)
                runs.append((f"{job} {signal_name}", signum, status, process, write_end))
        time.sleep(STARTED_S)
        for case, signum, _status, process, _write_end in runs:
            assert process.poll() is None, (case, process.communicate())
            process.send_signal(signum)
        start = time.monotonic()
        for case, _signum, status, process, _write_end in runs:
            stdout, stderr = process.communicate(timeout=ENDS_WITHIN_S * 3)
            assert time.monotonic() - start < ENDS_WITHIN_S, case
            assert process.returncode == status, (case, stderr)
            assert stderr.endswith(("convprof: interrupted\n", "convprof: terminated\n")), (case, stderr)
            assert stdout == "", case
    finally:
        for _case, _signum, _status, process, write_end in runs:
            reap(process)
            os.close(write_end)


def test_a_spec_piped_in_is_still_read(tmp_path: Path) -> None:
    process = subprocess.run(
        [*CONVPROF, "compare", "-", "--no-latency", "--format", "csv"],
        input="input: [3, 8, 8]\nlayers: [relu]\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        preexec_fn=as_a_background_job,
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.startswith("spec,variant,")

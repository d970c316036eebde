"""What a measurement is doing, shown on stderr when it is a terminal and never otherwise."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys

import pytest

from convprof.measure.options import PRESETS
from tests.conftest import ROOT
from tests.processes import CONVPROF

pytest.importorskip("torch")

#: Cursor movement and colour: what the terminal draws between the words.
_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _stderr_on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run convprof with stderr on a pseudo-terminal; return its status, stdout and what it drew."""
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [*CONVPROF, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    drawn = bytearray()
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            process.kill()
            raise AssertionError("no output for 120 s")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the last writer closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(timeout=60), out, _ESCAPE.sub("", drawn.decode(errors="replace"))


def test_every_stage_is_named_on_a_terminal() -> None:
    status, out, drawn = _stderr_on_a_terminal(
        "compare", "why_convolutions", "--preset", "quick", "--format", "json"
    )
    assert status == 0, drawn
    assert out.startswith("{")
    rounds = PRESETS["quick"].rounds
    for stage in (
        "loading torch",
        "cpu: building conv",
        "cpu: measuring memory of dense",
        "cpu: warming up local",
        f"cpu: timing conv, round 1/{rounds}",
        f"cpu: timing dense, round {rounds}/{rounds}",
    ):
        assert stage in drawn, stage


@pytest.mark.slow
def test_nothing_is_drawn_when_stderr_is_not_a_terminal() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "convprof",
            "compare",
            "why_convolutions",
            "--preset",
            "quick",
            "--format",
            "json",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0
    assert result.stderr == ""

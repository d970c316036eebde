"""The CLI's last line of defence: a bug is one line and exit 70; a full stdout is one line and exit 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SPECS
from tests.processes import CONVPROF

#: convprof as its entry point runs it, with a bug planted in the analysis: an exception no input
#: should ever cause, as a real bug would raise it.
_PLANTED_BUG = """
import sys
import convprof.report.analyze

message = sys.argv.pop()

def analyze(*args, **kwargs):
    raise RuntimeError(message)

convprof.report.analyze.analyze = analyze
sys.argv = ["convprof", *sys.argv[1:]]
from convprof.__main__ import main
main()
"""
DEBUG_VARIABLE = "CONVPROF_DEBUG"


def _with_bug(
    *args: str, message: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PLANTED_BUG, *args, message],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def _without_debug() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != DEBUG_VARIABLE}


def test_an_unexpected_error_is_one_line_naming_the_input_and_exit_70(tmp_path: Path) -> None:
    spec = tmp_path / "mon réseau.yaml"
    spec.write_text((SPECS / "lenet5.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    result = _with_bug(
        "compare", str(spec), "--no-latency", message="planted bug\nsecond line", env=_without_debug()
    )
    assert result.returncode == 70, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("convprof: error: internal error (RuntimeError: planted bug) running ")
    assert f"`convprof compare '{spec}' --no-latency`" in result.stderr  # the input, quoted as typed
    assert "bug" in result.stderr.split(") running ", 1)[1]
    assert f"{DEBUG_VARIABLE}=1" in result.stderr


def test_an_unexpected_error_without_a_message_still_names_its_kind() -> None:
    result = _with_bug("compare", "lenet5", "--no-latency", message="", env=_without_debug())
    assert result.returncode == 70, result.stderr
    assert re.fullmatch(
        r"convprof: error: internal error \(RuntimeError\) running "
        r"`convprof compare lenet5 --no-latency`.*\n",
        result.stderr,
    )


def test_debug_variable_shows_the_traceback_and_still_exits_70() -> None:
    result = _with_bug(
        "compare", "lenet5", "--no-latency", message="planted bug", env={**os.environ, DEBUG_VARIABLE: "1"}
    )
    assert result.returncode == 70, result.stderr
    assert result.stderr.startswith("Traceback (most recent call last):\n"), result.stderr
    assert result.stderr.endswith("RuntimeError: planted bug\n")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize(
    "args",
    [
        ["compare", "lenet5", "--no-latency", "--format", "json"],  # larger than a buffer: fails mid-write
        ["compare", "lenet5", "--no-latency"],  # a table, written by rich
        ["schema"],
        ["--version"],  # small: fails only when flushed at the end
    ],
    ids=["json", "table", "schema", "version"],
)
def test_stdout_on_a_full_device_is_one_line_and_exit_2(args: list[str]) -> None:
    with open("/dev/full", "w", encoding="utf-8") as full:
        result = subprocess.run(
            [*CONVPROF, *args],
            stdout=full,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            check=False,
            timeout=120,
            env=_without_debug(),
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr == "convprof: error: cannot write to standard output: No space left on device\n"

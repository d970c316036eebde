"""A result is written whole or not at all: past `ulimit -f`, on a full device, into a closed pipe.

Each case runs convprof in a child process with the limit or the output a shell would give it, and
checks the exit code, the one line on stderr and what is left in the file.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from convprof.errors import UsageError
from convprof.output import _write_whole
from tests.processes import CONVPROF

#: `ulimit -f` for the children: far below a resnet50 report (about 180 KB of JSON).
LIMIT_BYTES = 16 * 1024
#: A result far over LIMIT_BYTES.
BIG = ["compare", "resnet50", "--no-latency", "--format", "json"]


def _limited(sigxfsz: signal.Handlers) -> Callable[[], None]:
    """What a shell gives a child after `ulimit -f` (and `trap '' XFSZ` when `sigxfsz` is SIG_IGN)."""

    def setup() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, resource.RLIM_INFINITY))
        signal.signal(signal.SIGXFSZ, sigxfsz)

    return setup


def _run(args: list[str], stdout: int, preexec: Callable[[], None] | None = None) -> tuple[int, str]:
    process = subprocess.run(
        [*CONVPROF, *args],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
        check=False,
    )
    return process.returncode, process.stderr


def _one_line(code: int, stderr: str, *phrases: str) -> None:
    assert code == 2, stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("convprof: error: "), stderr
    for phrase in phrases:
        assert phrase in stderr, stderr


SIGXFSZ = {"default": signal.SIG_DFL, "ignored": signal.SIG_IGN}


@pytest.mark.parametrize("sigxfsz", SIGXFSZ.values(), ids=SIGXFSZ.keys())
@pytest.mark.parametrize("mode", ["truncate", "append"])
def test_stdout_past_the_file_size_limit_is_one_line_and_leaves_the_file_as_it_was(
    mode: str, sigxfsz: signal.Handlers, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    before = "earlier line\n" if mode == "append" else ""
    out.write_text(before, encoding="utf-8")
    flags = os.O_WRONLY | (os.O_APPEND if mode == "append" else os.O_TRUNC)  # `>>` or `>`
    fd = os.open(out, flags)
    try:
        code, stderr = _run(BIG, fd, _limited(sigxfsz))
    finally:
        os.close(fd)
    _one_line(code, stderr, "cannot write to standard output", "file-size limit", "ulimit -f")
    assert out.read_text(encoding="utf-8") == before  # no truncated JSON


@pytest.mark.parametrize("sigxfsz", SIGXFSZ.values(), ids=SIGXFSZ.keys())
def test_output_past_the_file_size_limit_is_one_line_and_no_file(
    sigxfsz: signal.Handlers, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    code, stderr = _run([*BIG, "-o", str(out)], subprocess.DEVNULL, _limited(sigxfsz))
    _one_line(code, stderr, f"cannot write {out}", "File too large")
    assert list(tmp_path.iterdir()) == []  # no report, no temporary file


def test_stdout_on_a_full_device_is_one_line() -> None:
    with open("/dev/full", "wb") as full:
        code, stderr = _run(BIG, full.fileno())
    _one_line(code, stderr, "cannot write to standard output: No space left on device")


def test_a_closed_pipe_ends_quietly_with_141() -> None:
    process = subprocess.Popen(
        [*CONVPROF, *BIG],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.read(10)
    process.stdout.close()  # the reader goes away before the result is all written
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 141, stderr
    assert stderr == b""


def test_a_failed_write_cuts_a_regular_file_back_to_what_it_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A disk that fills up mid-write: the first write goes through, the next finds no space.
    path = tmp_path / "out"
    path.write_bytes(b"kept\n")
    real = os.write
    calls = []

    def write(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, bytes(data)[:100])

    monkeypatch.setattr(os, "write", write)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        with pytest.raises(UsageError, match="No space left on device"):
            _write_whole(fd, b"x" * 1000, "write to standard output")
    finally:
        os.close(fd)
    assert calls == [1000, 900]
    assert path.read_bytes() == b"kept\n"


@pytest.mark.parametrize("summary", ["fifo", "full"])
def test_a_job_summary_that_cannot_be_written_is_one_line_not_a_hang(summary: str, tmp_path: Path) -> None:
    if summary == "fifo":
        target = tmp_path / "summary"
        os.mkfifo(target)  # nobody reads it
    else:
        target = Path("/dev/full")
    start = time.monotonic()
    process = subprocess.run(
        [*CONVPROF, "check", "lenet5", "--max-params", "1G"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "GITHUB_STEP_SUMMARY": str(target)},
        timeout=60,
        check=False,
    )
    assert time.monotonic() - start < 30
    assert process.returncode == 2, process.stderr
    assert process.stderr.splitlines() == [
        f"convprof: error: cannot append to GITHUB_STEP_SUMMARY {target}: "
        + (
            "nothing is reading it; start its reader first"
            if summary == "fifo"
            else "No space left on device"
        )
    ]

"""The fork server stands in for a new interpreter: the same process state, the same ends.

Each case starts `python -m tests.process_state ACTION` twice, once in a new interpreter and once
through the fork server (tests/forkserver.py), with the same streams, folder, environment, umask,
dispositions, mask and extra descriptors, and compares what each found itself with and how each
ended.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.processes import (
    FORKSERVER,
    FRESH_VARIABLE,
    SOCKET,
    as_a_background_job,
    as_a_foreground_job,
    reap,
    served,
)

FRESH_STATE = [sys.executable, "-m", "tests.process_state"]
SERVED_STATE = served("tests.process_state")


@pytest.fixture(autouse=True, scope="module")
def _listening() -> None:
    """Wait for this process's fork server to listen (it imports torch first)."""
    if os.environ.get(FRESH_VARIABLE) or not hasattr(os, "pidfd_open"):
        pytest.skip(f"no fork server in this run ({FRESH_VARIABLE} set, or no pidfd_open)")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(SOCKET))
            except OSError:
                time.sleep(0.05)
                continue
        return  # connected and closed: the server sees the end of a request that never came
    pytest.fail("the fork server did not listen within 120 s")


def _normalized(text: str) -> dict[str, object]:
    state = json.loads(text)
    state.pop("pid")
    for fd in state["descriptors"].values():
        # pipe:[inode], socket:[inode], /dev/pts/N: the kind of file, not which one
        fd["target"] = re.sub(r"\[\d+\]$|(?<=/dev/pts/)\d+$", "", fd["target"])
    return state


def _run(
    command: list[str],
    action: str,
    *,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
    pass_fds: tuple[int, ...] = (),
    stdout: int = subprocess.PIPE,
    stdin: int | None = subprocess.DEVNULL,
    input: bytes | None = None,
) -> tuple[int, bytes, bytes, int]:
    process = subprocess.Popen(
        [*command, action],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE if input is not None else stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        preexec_fn=preexec,
        pass_fds=pass_fds,
    )
    out, err = process.communicate(input, timeout=120)
    return process.returncode, out or b"", err, process.pid


def _both(action: str, **how: object) -> tuple[tuple[int, bytes, bytes, int], tuple[int, bytes, bytes, int]]:
    return _run(FRESH_STATE, action, **how), _run(SERVED_STATE, action, **how)  # type: ignore[arg-type]


def _state_of(stdout: bytes) -> dict[str, object]:
    return _normalized(stdout.decode().splitlines()[0])


@pytest.mark.parametrize(
    "preexec",
    [None, as_a_foreground_job, as_a_background_job, lambda: os.umask(0o077)],
    ids=["plain", "foreground-job", "background-job", "umask"],
)
def test_a_served_child_starts_as_a_new_interpreter_would(preexec: Callable[[], None] | None) -> None:
    fresh, child = _both("", preexec=preexec)
    assert fresh[0] == child[0] == 0, (fresh[2], child[2])
    assert _state_of(child[1]) == _state_of(fresh[1])
    assert _pid_of(json.loads(child[1].decode().splitlines()[0])) != child[3]  # it was served


def test_a_changed_environment_extra_descriptor_and_terminal_reach_the_child(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    pythonpath = os.pathsep.join([str(tmp_path / "lib"), "relative", str(ROOT)])
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path),
        "COLUMNS": "50",
        "CONVPROF_X": "x",
        "PYTHONPATH": pythonpath,
    }
    read_end, write_end = os.pipe()
    leader, follower = pty.openpty()
    try:
        fresh = _run(FRESH_STATE, "", env=env, pass_fds=(write_end,), stdout=follower)
        child = _run(SERVED_STATE, "", env=env, pass_fds=(write_end,), stdout=follower)
    finally:
        os.close(follower)
        os.close(write_end)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 1 << 20)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    os.close(read_end)
    states = [_normalized(line) for line in drawn.decode().replace("\r\n", "\n").splitlines() if line]
    assert len(states) == 2
    assert fresh[0] == child[0] == 0
    assert states[0] == states[1]
    assert states[1]["tempdir"] == str(tmp_path)
    assert states[1]["path"][1:4] == [str(tmp_path / "lib"), str(ROOT / "relative"), str(ROOT)]  # type: ignore[index]
    assert states[1]["streams"][1]["isatty"] is True  # type: ignore[index]
    assert str(write_end) in states[1]["descriptors"]  # type: ignore[operator]


@pytest.mark.parametrize("action", ["exit-3", "exit-message", "raise", "interrupt", "unflushed", "echo"])
def test_a_served_child_ends_as_a_new_interpreter_would(action: str) -> None:
    fresh, child = _both(action, input=b"read from stdin\n" if action == "echo" else None)
    assert child[0] == fresh[0]
    assert child[1].split(b"\n", 1)[1] == fresh[1].split(b"\n", 1)[1]  # all it wrote after its state
    # Tracebacks: the module's own frames and the last line alike (runpy's frames differ: `python -m`
    # runs the module from C, the server from Python).
    assert _own(child[2]) == _own(fresh[2])


def _own(stderr: bytes) -> list[bytes]:
    lines = stderr.splitlines()
    return [line for line in lines if b"process_state.py" in line] + lines[-1:]


#: Signals the next test sends, at their default actions whatever the run inherited (under `nohup`
#: SIGHUP arrives ignored, in a background job SIGINT).
SENT = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _defaults() -> None:
    for signum in SENT:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SENT)


@pytest.mark.parametrize("signum", SENT)
def test_a_signal_to_the_client_reaches_the_child(signum: int) -> None:
    endings = []
    for command in (FRESH_STATE, SERVED_STATE):
        process = subprocess.Popen(
            [*command, "wait"],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_defaults,
        )
        try:
            assert process.stdout is not None
            process.stdout.readline()  # its state: it is running its module
            process.send_signal(signum)
            _, stderr = process.communicate(timeout=60)
        finally:
            reap(process)
        endings.append((process.returncode, stderr.splitlines()[-1:] if stderr else []))
    assert endings[0] == endings[1]
    assert endings[0][0] == -signum


def test_a_killed_client_takes_its_child_with_it() -> None:
    process = subprocess.Popen(
        [*SERVED_STATE, "wait"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    child = json.loads(process.stdout.readline())
    pid = _pid_of(child)
    process.kill()
    process.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not Path(f"/proc/{pid}").exists()


def _pid_of(state: dict[str, object]) -> int:
    return int(state["pid"])  # type: ignore[call-overload]


def test_a_start_up_variable_that_differs_runs_a_new_interpreter() -> None:
    # PYTHONWARNINGS is read as an interpreter starts: the server cannot stand in, the client becomes
    # `python -m ...` itself (the same pid as the one started).
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    status, stdout, _, pid = _run(SERVED_STATE, "", env=env)
    assert status == 0
    assert _pid_of(json.loads(stdout)) == pid
    status, stdout, _, pid = _run(SERVED_STATE, "")
    assert status == 0
    assert _pid_of(json.loads(stdout)) != pid


def test_a_pid_and_a_status_in_one_read_are_two_replies(tmp_path: Path) -> None:
    # A child that ends at once: its pid and its status can reach the client in one read. A server
    # of the test's own sends both at once; the client must end with that status (3).
    path = tmp_path / "server.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        client = subprocess.Popen(
            [sys.executable, "-I", "-S", str(FORKSERVER), str(path), "tests.process_state"],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
        conn, _ = listener.accept()
        with conn:
            data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 64)
            for fd in fds:
                os.close(fd)
            assert json.loads(data)["module"] == "tests.process_state"
            conn.sendall(b'{"pid": %d}\n{"status": %d}\n' % (os.getpid(), 3 << 8))
            assert client.wait(timeout=60) == 3

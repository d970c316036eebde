"""What a process started as `python -m tests.process_state ACTION` finds itself with, as JSON.

tests/test_forkserver.py runs it in a new interpreter and as a child of the fork server and compares:
arguments, import path, folder, environment, umask, limits, signal dispositions and mask, open file
descriptors, the standard streams as made, the temporary folder. ACTION then says how it ends.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import tempfile
import time


def _name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:  # a real-time signal
        return f"SIG{signum}"


def _disposition(signum: int) -> str:
    try:
        handler = signal.getsignal(signum)
    except (ValueError, OSError):
        return "?"
    if handler == signal.SIG_IGN:
        return "ignored"
    if handler == signal.SIG_DFL:
        return "default"
    if handler is None:
        return "none"
    return getattr(handler, "__name__", "handler")


def _stream(stream) -> dict[str, object] | None:  # type: ignore[no-untyped-def]
    if stream is None:
        return None
    buffer = stream.buffer
    raw = getattr(buffer, "raw", buffer)
    return {
        "fileno": stream.fileno(),
        "encoding": stream.encoding,
        "errors": stream.errors,
        "line_buffering": stream.line_buffering,
        "write_through": stream.write_through,
        "buffer": type(buffer).__name__,
        "raw": type(raw).__name__,
        "name": raw.name,
        "mode": raw.mode,
        "isatty": stream.isatty(),
        "same_as_dunder": stream is getattr(sys, f"__{raw.name.strip('<>')}__"),
    }


def _descriptors() -> dict[str, object]:
    found = {}
    for name in sorted(os.listdir("/proc/self/fd"), key=int):
        fd = int(name)
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            inheritable = os.get_inheritable(fd)
        except OSError:
            continue  # the listing's own descriptor, closed by now
        found[name] = {"target": target, "inheritable": inheritable}
    return found


def state() -> dict[str, object]:
    umask = os.umask(0o22)
    os.umask(umask)
    return {
        "pid": os.getpid(),
        "argv": sys.argv,
        "orig_argv": sys.orig_argv[1:],
        "path": sys.path,
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
        "umask": umask,
        "limits": {
            name: resource.getrlimit(getattr(resource, name))
            for name in dir(resource)
            if name.startswith("RLIMIT_")
        },
        "signals": {_name(s): _disposition(s) for s in signal.valid_signals() if s < signal.NSIG},
        "mask": sorted(_name(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "descriptors": _descriptors(),
        "streams": [_stream(sys.stdin), _stream(sys.stdout), _stream(sys.stderr)],
        "tempdir": tempfile.gettempdir(),
        "main": __name__,
        "flags": list(sys.flags),
    }


def main(action: str) -> None:
    print(json.dumps(state(), sort_keys=True), flush=True)
    if action == "exit-3":
        sys.exit(3)
    if action == "exit-message":
        sys.exit("a message")
    if action == "raise":
        raise ValueError("raised at the top")
    if action == "interrupt":
        raise KeyboardInterrupt
    if action == "unflushed":
        sys.stdout.write("no newline, never flushed")
    if action == "wait":  # until a signal ends it (or 60 s)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.01)
        sys.exit(4)
    if action == "echo":
        sys.stdout.write(sys.stdin.read())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")

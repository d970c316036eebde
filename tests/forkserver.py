"""convprof's command line in a fresh process without a fresh interpreter: a fork server for the suite.

A test that starts `python -m convprof ...` pays the interpreter's start and torch's import (about
1.3 s of CPU) before convprof reads its first argument; the suite starts hundreds. Here one server
per test worker imports torch (with torch._dynamo, which importing a model loads) and every module
of convprof once, and a test starts, in their place,
the small client below (`python -I -S forkserver.py SOCKET MODULE ARGS...`, about 20 ms). The client
sends the server what a new interpreter would have started from: its arguments, folder,
environment, umask, resource limits, open file descriptors, signal dispositions and signal mask.
The server forks; the child takes all of that, runs MODULE as `python -m MODULE` does (`runpy`,
`sys.argv`, `sys.path` with the folder and PYTHONPATH's entries, standard streams made as the
interpreter makes them), finishes as the interpreter finishes (threads joined, atexit, streams
flushed) and exits; its status comes back to the client, which ends the same way (the same exit
code, or killed by the same signal). Signals sent to the client are passed on to the child; a
client killed outright takes its child with it.

So the test sees a real process: exit status, pipes and terminals, signals, files. What the child
skips is the interpreter's start, the imports the server made and the interpreter's teardown (the
modules' finalization); and the pid the test holds is the client's. Tests of those (a signal at any
instant from the first, counting never importing torch, a teardown, the CPU a pid used, what
torch._dynamo's import does in a model's code) start new interpreters (tests/processes.py's FRESH).
Where the child could differ from a new interpreter, the server answers "fresh" and the client
becomes one (`exec python -m MODULE` in the same process, nothing else changed): an environment
that differs in a variable read at start-up (PYTHON*, locale, threading and allocator settings),
different resource limits, a PYTHONPATH that would find a module the server has imported somewhere
else, a module the server does not serve.
`CONVPROF_TEST_FRESH=1` sends every run to a new interpreter (no server is started), and the suite
passes so too. The server's log (SOCKET with `.log`) has each child's CPU seconds, test and command,
and each request sent to a new interpreter with the reason.

tests/test_forkserver.py checks that a child and a new interpreter find the same process state and
end the same ways.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

#: Modules the server runs as `python -m MODULE`.
SERVED = ("convprof", "tests.process_state")
#: Signals the client passes on to the child (the ones a test or a terminal sends).
FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
    signal.SIGWINCH,
)
#: Environment variables read when an interpreter (or torch, or its thread pools and allocator)
#: starts: a request whose environment differs from the server's in one of them runs fresh.
STARTUP_PREFIXES = (
    "PYTHON",
    "LC_",
    "LANG",
    "OMP_",
    "MKL_",
    "KMP_",
    "GOMP_",
    "OPENBLAS_",
    "TORCH",
    "PYTORCH",
    "CUDA",
    "NVIDIA",
    "LD_",
    "MALLOC_",
    "GLIBC_",
)
#: Bytes of one request.
REQUEST_LIMIT = 1 << 20
MAX_FDS = 64


def _limits() -> dict[str, list[int]]:
    import resource

    return {
        name: list(resource.getrlimit(getattr(resource, name)))
        for name in dir(resource)
        if name.startswith("RLIMIT_")
    }


def _startup_environment(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key.startswith(STARTUP_PREFIXES)}


# -- the client ----------------------------------------------------------------------------------------


def client(path: str, module: str, args: list[str]) -> None:
    """Run `python -m MODULE ARGS` in a child of the server at `path`, or, failing that, become it."""
    import json
    import socket

    inherited_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    ignored = [
        int(signum)
        for signum in range(1, signal.NSIG)
        if signum not in (signal.SIGKILL, signal.SIGSTOP) and _ignored(signum)
    ]

    def fresh() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, inherited_mask)
        os.execv(sys.executable, [sys.executable, "-m", module, *args])

    if os.environ.get("CONVPROF_TEST_FRESH") or not os.path.exists(path):
        fresh()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        fresh()
    fds = sorted(int(name) for name in os.listdir("/proc/self/fd") if int(name) != conn.fileno())
    fds = [fd for fd in fds if _is_open(fd)]
    request = {
        "module": module,
        "args": args,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "umask": _umask(),
        "limits": _limits(),
        "ignored": ignored,
        "mask": sorted(int(s) for s in inherited_mask),
        "fds": fds,
    }
    socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], fds)
    replies = conn.makefile("rb")  # lines: the child's pid, then its status (may come in one read)
    reply = _read_line(replies)
    if reply is None:
        conn.close()
        fresh()
        return
    answer = json.loads(reply)
    if "fresh" in answer:
        conn.close()
        fresh()
    pid = int(answer["pid"])

    def forward(signum: int, _frame: object) -> None:
        os.kill(pid, signum)

    for signum in FORWARDED:  # ignored or not here: the child has the inherited dispositions and decides
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    ended = _read_line(replies)
    if ended is None:
        os.write(2, b"forkserver: the server went away before the child ended\n")
        os._exit(125)
    status = int(json.loads(ended)["status"])
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(os.waitstatus_to_exitcode(status))


def _ignored(signum: int) -> bool:
    try:
        return signal.getsignal(signum) == signal.SIG_IGN
    except (ValueError, OSError):
        return False


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def _read_line(replies) -> bytes | None:  # type: ignore[no-untyped-def]
    line: bytes = replies.readline()
    return line if line.endswith(b"\n") else None  # None: the server closed first


# -- the server ----------------------------------------------------------------------------------------


def serve(path: str) -> None:
    """Import what every run imports, then fork a child for each request until stdin closes."""
    import gc
    import json
    import selectors
    import socket

    import torch  # noqa: F401  what a measuring or importing run loads first

    import convprof.cli  # noqa: F401  (not convprof.__main__: runpy runs that as __main__ each time)

    _import_convprof()
    _import_dynamo()

    # What the server imported stays out of every child's garbage collections: collecting it would
    # cost each child the time a new interpreter spends importing, and copy its pages.
    gc.collect()
    gc.freeze()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listener")
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    environment = _startup_environment(dict(os.environ))
    own = set(map(os.path.abspath, _pythonpath(dict(os.environ), os.getcwd())))
    _BASE_PATH[:] = [entry for entry in sys.path[1:] if os.path.abspath(entry) not in own]
    limits = _limits()
    running: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, connection)
    about: dict[int, tuple[str, list[str]]] = {}  # pid -> (the test that asked, its arguments)
    by_conn: dict[int, int] = {}  # connection fd -> pidfd

    def end(pidfd: int, *, kill: bool) -> None:
        pid, conn = running.pop(pidfd)
        by_conn.pop(conn.fileno(), None)
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        # The log (tests/processes.py's SOCKET with .log): each child's CPU seconds, test and command.
        test, args = about.pop(pid)
        print(
            f"{usage.ru_utime + usage.ru_stime:.3f}\t{test}\t{' '.join(args)[:200]}",
            file=sys.stderr,
            flush=True,
        )
        selector.unregister(pidfd)
        os.close(pidfd)
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(conn)
        if not kill:
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"status": status}).encode() + b"\n")
        conn.close()

    while True:
        for key, _events in selector.select():
            what = key.data
            if what == "stdin":
                if not os.read(sys.stdin.fileno(), 4096):
                    for pidfd in list(running):
                        end(pidfd, kill=True)
                    listener.close()
                    os.unlink(path)
                    return
            elif what == "listener":
                conn, _ = listener.accept()
                served = _accept(conn, environment, limits, running, by_conn, selector, listener)
                if served is not None:
                    pid, request = served
                    about[pid] = (request["env"].get("PYTEST_CURRENT_TEST", ""), request["args"])
            elif what == "child":
                end(key.fd, kill=False)
            elif what == "conn":  # the client went away (killed) before its child ended
                pidfd = by_conn.get(key.fileobj.fileno())  # type: ignore[union-attr]
                if pidfd is not None:
                    end(pidfd, kill=True)
                else:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()  # type: ignore[union-attr]


def _import_convprof() -> None:
    """Import every module of convprof and the libraries its commands load on their way (rich,
    yaml): each child finds them loaded, as torch. Not `convprof.__main__` (runpy runs that as
    __main__ each time)."""
    import importlib
    import pkgutil

    import convprof

    for module in pkgutil.walk_packages(convprof.__path__, "convprof."):
        if module.name != "convprof.__main__":
            importlib.import_module(module.name)
    for name in ("yaml", "rich.console", "rich.table", "rich.text", "rich.progress", "rich.measure"):
        importlib.import_module(name)


def _import_dynamo() -> None:
    """Import torch._dynamo as an importing run does on its way: torch's Python decompositions (an
    adaptive pooling, a mean on meta tensors) and FakeTensorMode import it at their first call,
    about 0.8 s of CPU in every run that imports a model. Its import makes torch's compile-cache
    directory (TMPDIR/torchinductor_<user>) and records it in TORCHINDUCTOR_CACHE_DIR: made here in
    a directory of the server's own, removed, and the environment put back as it was (the server
    compares each request's start-up variables with its own). Tests whose subject is what that
    import does in a model's code run in new interpreters (processes.FRESH)."""
    import shutil
    import tempfile

    before = dict(os.environ)
    scratch = tempfile.mkdtemp(prefix="convprof-forkserver-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = scratch
    try:
        import torch._dynamo  # noqa: F401
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        os.environ.clear()
        os.environ.update(before)


def _accept(conn, environment, limits, running, by_conn, selector, listener):  # type: ignore[no-untyped-def]
    """Answer one request: fork its child and return (pid, request), or tell the client to run fresh."""
    import json
    import selectors
    import socket

    data, fds, _flags, _addr = socket.recv_fds(conn, REQUEST_LIMIT, MAX_FDS)
    while data and not data.endswith(b"\n"):
        more = conn.recv(REQUEST_LIMIT)
        if not more:
            break
        data += more
    if not data.endswith(b"\n"):  # a connection that asked nothing (a probe of whether we listen)
        for fd in fds:
            os.close(fd)
        conn.close()
        return None
    request = json.loads(data)
    reason = _why_fresh(request, environment, limits)
    if reason:
        print(f"fresh: {reason}: {request['args'][:3]}", file=sys.stderr, flush=True)
        for fd in fds:
            os.close(fd)
        conn.sendall(json.dumps({"fresh": reason}).encode() + b"\n")
        conn.close()
        return None
    # Held across the fork: a signal the client passes on at once waits in the child until it has the
    # client's dispositions and mask, as it would in a new interpreter started with them.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    pid = os.fork()
    if pid == 0:
        try:
            selector.close()
            _child(request, fds, keep=conn.fileno())
        except BaseException:  # the child could not become the process asked for: say why, on its stderr
            import traceback

            os.write(2, f"forkserver: {traceback.format_exc()}".encode())
        finally:
            os._exit(70)
    signal.pthread_sigmask(signal.SIG_SETMASK, held)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    running[pidfd] = (pid, conn)
    by_conn[conn.fileno()] = pidfd
    selector.register(pidfd, selectors.EVENT_READ, "child")
    selector.register(conn, selectors.EVENT_READ, "conn")
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    return pid, request


def _why_fresh(request: dict, environment: dict[str, str], limits: dict[str, list[int]]) -> str:  # type: ignore[type-arg]
    if request["module"] not in SERVED:
        return f"module {request['module']} is not served"
    asked = _startup_environment(request["env"])
    changed = {key for key, _ in set(asked.items()) ^ set(environment.items())} - {"PYTHONPATH"}
    if changed:
        return f"start-up environment differs: {', '.join(sorted(changed))}"
    if request["limits"] != limits:
        return "resource limits differ"
    shadowed = _shadowed(_import_path(request["cwd"], request["env"]))
    if shadowed:
        return f"PYTHONPATH shadows {shadowed}, which the server has imported"
    return ""


#: The server's import path after its own first entry and PYTHONPATH's: the standard library, site.
_BASE_PATH: list[str] = []


def _pythonpath(env: dict[str, str], cwd: str) -> list[str]:
    return [os.path.join(cwd, entry) for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]


def _import_path(cwd: str, env: dict[str, str]) -> list[str]:
    """sys.path as `python -m` would start with in `cwd` under `env`: PYTHONPATH's entries and the
    rest, absolute and without repeats as site makes them, then the folder put first (after site)."""
    path: list[str] = []
    for entry in [*_pythonpath(env, cwd), *_BASE_PATH]:
        entry = os.path.abspath(entry)
        if entry not in path:
            path.append(entry)
    return [cwd, *path]


def _shadowed(path: list[str]) -> str:
    """The first module the server has imported that `path` would find elsewhere; '' if none."""
    for name, module in list(sys.modules.items()):
        if "." in name or module is None:
            continue
        origin = getattr(module, "__file__", None)
        if origin is None:  # built in, frozen or a namespace
            continue
        home = os.path.dirname(os.path.dirname(origin) if origin.endswith("__init__.py") else origin)
        for entry in path:
            candidates = (os.path.join(entry, name, "__init__.py"), os.path.join(entry, f"{name}.py"))
            if any(os.path.exists(candidate) for candidate in candidates):
                if os.path.abspath(entry) != os.path.abspath(home) and not _same_package(
                    os.path.join(entry, name), os.path.join(home, name)
                ):
                    return name
                break
            if os.path.abspath(entry) == os.path.abspath(home):
                break
    return ""


_SAME: dict[tuple[str, str], bool] = {}


def _same_package(found: str, loaded: str) -> bool:
    """Whether two package folders hold the same Python sources, file for file (a checkout and the
    copy of it installed, say): importing either runs the same code."""
    if (found, loaded) not in _SAME:

        def sources(folder: str) -> dict[str, bytes]:
            found_files = {}
            for parent, _dirs, files in os.walk(folder):
                for name in files:
                    if name.endswith(".py"):
                        path = os.path.join(parent, name)
                        with open(path, "rb") as file:
                            found_files[os.path.relpath(path, folder)] = file.read()
            return found_files

        _SAME[found, loaded] = (
            os.path.isdir(found) and os.path.isdir(loaded) and sources(found) == sources(loaded)
        )
    return _SAME[found, loaded]


def _child(request: dict, received: list[int], keep: int) -> None:  # type: ignore[type-arg]
    """In the forked child: become the process the request describes, run its module, end as an
    interpreter ends."""
    import io
    import random
    import runpy
    import tempfile
    import threading

    # Descriptors: exactly the client's, at its numbers; the server's own closed.
    targets = request["fds"]
    high = [_dup_high(fd) for fd in received]
    for fd in received:
        os.close(fd)
    for fd in range(0, 1000):
        if fd not in high:
            with contextlib.suppress(OSError):
                os.close(fd)
    for target, fd in zip(targets, high, strict=True):
        os.dup2(fd, target, inheritable=True)
        os.close(fd)
    del keep  # the connection was closed with the rest: the server alone answers the client
    # Signals: dispositions and mask as the client inherited them, as a new interpreter sets them.
    ignored = set(request["ignored"])
    for signum in range(1, signal.NSIG):
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        if signum in ignored or signum in (signal.SIGPIPE, signal.SIGXFSZ):
            handler = signal.SIG_IGN
        elif signum == signal.SIGINT:
            handler = signal.default_int_handler
        else:
            handler = signal.SIG_DFL
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signum, handler)
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None
    random.seed()
    # Standard streams made as the interpreter makes them, on the client's descriptors.
    streams = []
    for fd, name in ((0, "<stdin>"), (1, "<stdout>"), (2, "<stderr>")):
        old = (sys.__stdin__, sys.__stdout__, sys.__stderr__)[fd]
        assert old is not None
        streams.append(_stream(fd, name, old.encoding, old.errors, io) if _is_open(fd) else None)
    sys.stdin = sys.__stdin__ = streams[0]  # type: ignore[misc]
    sys.stdout = sys.__stdout__ = streams[1]  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = streams[2]  # type: ignore[misc]
    module, args = request["module"], request["args"]
    sys.argv = [module, *args]
    sys.orig_argv = [sys.executable, "-m", module, *args]
    sys.path[:] = _import_path(os.getcwd(), request["env"])
    signal.pthread_sigmask(signal.SIG_SETMASK, request["mask"])
    code, interrupted = _run(module, runpy)
    threading._shutdown()  # type: ignore[attr-defined]
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            code = 120
    if interrupted:  # as an interpreter ends on a KeyboardInterrupt nobody caught: by SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def _dup_high(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD, 1000)


def _stream(fd: int, name: str, encoding: str, errors: str, io):  # type: ignore[no-untyped-def]
    """One standard stream as CPython's create_stdio makes it."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))  # -u is never given here
    write = fd != 0
    buffering = 0 if (unbuffered and write) else -1
    buffer = io.open(fd, "wb" if write else "rb", buffering=buffering, closefd=False)
    raw = buffer if buffering == 0 else buffer.raw
    raw.name = name  # type: ignore[misc]
    line_buffering = not unbuffered and (raw.isatty() or fd == 2)
    return io.TextIOWrapper(
        buffer,
        encoding=encoding,
        errors=errors,
        newline="\n",
        line_buffering=line_buffering,
        write_through=unbuffered,
    )


def _run(module: str, runpy) -> tuple[int, bool]:  # type: ignore[no-untyped-def]
    """Run `module` as __main__; return the exit code an interpreter would end with, and whether an
    uncaught KeyboardInterrupt ended it."""
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as done:
        return _exit_code(done.code), False
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        return 130, True
    except BaseException:
        sys.excepthook(*sys.exc_info())
        return 1, False
    return 0, False


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        client(sys.argv[1], sys.argv[2], sys.argv[3:])

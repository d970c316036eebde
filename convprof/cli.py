"""The command line: the only module that reads files, prints and chooses exit codes."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shlex
import signal
import sys
import traceback
from typing import Any, NoReturn

import click

from convprof import signals
from convprof.errors import ReaderGone
from convprof.safetext import printable
from convprof.version import __version__

__all__ = ["cli", "main"]

#: Command name -> "module:attribute". Each command is imported only when it runs, so that
#: `convprof compare --no-latency` pays for compare's imports alone. Add a command here.
_COMMANDS: dict[str, str] = {
    "compare": "convprof.commands.compare:compare",
    "examples": "convprof.commands.examples:examples",
    "calibrate": "convprof.commands.calibrate:calibrate",
    "check": "convprof.commands.check:check",
    "diff": "convprof.commands.diff:diff",
    "import": "convprof.commands.import_model:import_model",
    "merge": "convprof.commands.merge:merge",
    "schema": "convprof.commands.schema:schema",
    "sweep": "convprof.commands.sweep:sweep",
}


class _LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented lazy-loading pattern).

    A broken pipe leaves it as `ReaderGone`: click turns the BrokenPipeError itself into exit 0."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:  # bare `convprof`: its help, as `--help` prints it
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError as error:  # `convprof --help | head -1`
            raise ReaderGone from error

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as error:
            raise ReaderGone from error

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="convprof")
def cli() -> None:
    """Profile a CNN spec against its locally connected and dense equivalents."""


#: A closed pipe ends the run as a shell reports a process killed by SIGPIPE.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
#: sysexits.h's EX_SOFTWARE: convprof itself failed (a bug), never the user's input.
EXIT_SOFTWARE = 70
#: Set to 1 to see the traceback of an unexpected error instead of its one-line summary.
DEBUG_VARIABLE = "CONVPROF_DEBUG"


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again on it."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _StdoutUnwritable(OSError):
    """Standard output refused convprof's output (a full device, an I/O error)."""


#: Characters handed to the text layer at a time: one large write that a closing reader cuts short
#: is taken as written in full by Python's buffered writer, so the broken pipe would go unseen.
_WRITE_CHUNK = 8192


class _GuardedStdout(io.TextIOWrapper):
    """sys.stdout whose failures say they are stdout's, so they are not mistaken for a bug."""

    def write(self, text: str) -> int:
        try:
            if len(text) <= _WRITE_CHUNK:  # also what refuses bytes, as click's probe expects
                return super().write(text)
            for start in range(0, len(text), _WRITE_CHUNK):
                super().write(text[start : start + _WRITE_CHUNK])
            return len(text)
        except BrokenPipeError:
            raise
        except OSError as error:
            raise _StdoutUnwritable(error.errno, error.strerror) from error

    def flush(self) -> None:
        try:
            super().flush()
        except BrokenPipeError:
            raise
        except OSError as error:
            raise _StdoutUnwritable(error.errno, error.strerror) from error


def _guard_stdout() -> None:
    """Put a `_GuardedStdout` over the process's stdout (before anything is written to it)."""
    stream = sys.stdout
    if type(stream) is not io.TextIOWrapper:  # already replaced by whoever runs convprof
        return
    sys.stdout = _GuardedStdout(
        stream.buffer,
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=stream.line_buffering,
        write_through=stream.write_through,
    )


def _command_line() -> str:
    return shlex.join(["convprof", *sys.argv[1:]])


def _internal_error(error: BaseException) -> NoReturn:
    """The last line of defence: one line naming the input and asking for a bug report, exit 70."""
    if os.environ.get(DEBUG_VARIABLE, "") not in ("", "0"):
        traceback.print_exception(error)
    else:
        summary = str(error).strip().splitlines()
        detail = f"{type(error).__name__}: {summary[0]}" if summary else type(error).__name__
        line = (
            f"convprof: error: internal error ({detail}) running `{_command_line()}`; this is a bug in "
            f"convprof: please report it with that command line and its input files "
            f"({DEBUG_VARIABLE}=1 shows the traceback)"
        )
        click.echo(printable(line), err=True)
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    sys.exit(EXIT_SOFTWARE)


def main() -> None:
    """Run the command line: one line and a conventional exit code for every way it can end."""
    try:
        signals.take()  # already taken by the entry point; again for callers of main() itself
        _guard_stdout()
        status = cli.main(prog_name="convprof", standalone_mode=False)
        # A full device shows when buffered output is flushed: here, not in the interpreter's exit.
        sys.stdout.flush()
    except (click.exceptions.Abort, KeyboardInterrupt):  # raised by code that simulates Ctrl-C
        signals.stop(terminated=False)
    except click.UsageError as error:
        # click's own form is a usage block and an error line; convprof's is one line, with where to look.
        where = error.ctx.command_path if error.ctx is not None else "convprof"
        line = f"convprof: error: {error.format_message().rstrip('.')}; see `{where} --help`"
        click.echo(printable(line), err=True)
        sys.exit(error.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except (BrokenPipeError, ReaderGone):
        # The reader went away (`convprof ... | head -1`): stop quietly, and keep the interpreter's
        # final flush from raising again on the dead pipe.
        _quiet_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except _StdoutUnwritable as error:
        _quiet_stdout()
        click.echo(f"convprof: error: cannot write to standard output: {error.strerror}", err=True)
        sys.exit(2)
    except Exception as error:  # the last line of defence: every bug gets one line
        _internal_error(error)
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()

"""The command line: the only module that reads files, prints and chooses exit codes."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

import click

from convprof import __version__

__all__ = ["cli", "main"]

#: Command name -> "module:attribute". Each command is imported only when it runs, so that
#: `convprof compare --no-latency` pays for compare's imports alone. Add a command here.
_COMMANDS: dict[str, str] = {
    "compare": "convprof.commands.compare:compare",
    "examples": "convprof.commands.examples:examples",
    "calibrate": "convprof.commands.calibrate:calibrate",
    "check": "convprof.commands.check:check",
    "diff": "convprof.commands.diff:diff",
    "merge": "convprof.commands.merge:merge",
    "schema": "convprof.commands.schema:schema",
    "sweep": "convprof.commands.sweep:sweep",
}


class _LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented lazy-loading pattern)."""

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


#: Exit statuses of a process ended by a signal, as shells report them (128 + signal number).
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that the same clean-up as Ctrl-C runs."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _stop(interrupt: BaseException | None) -> NoReturn:
    """End the process for Ctrl-C or SIGTERM: one line, then 130 or 143 and nothing else.

    Clean-up (temporary files, half-built reports) has already run in the `finally` blocks the
    interrupt unwound through. `os._exit` rather than `sys.exit`: an interrupt that crossed C code
    running Python source (torch's extension modules do, while they load) leaves CPython marked to
    re-kill itself with SIGINT at exit, which would replace 130 by "killed by signal 2".
    """
    terminated = isinstance(interrupt, _Terminated)
    click.echo("convprof: terminated" if terminated else "convprof: interrupted", err=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream
            stream.flush()
    os._exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


def main() -> None:
    """Run the command line: one line and a conventional exit code for every way it can end."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        status = cli.main(prog_name="convprof", standalone_mode=False)
    except click.exceptions.Abort as abort:  # click turns Ctrl-C into Abort
        _stop(abort.__context__)
    except KeyboardInterrupt as interrupt:
        _stop(interrupt)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except BrokenPipeError:
        # The reader went away (`convprof ... | head -1`): stop quietly, and keep the interpreter's
        # final flush from raising again on the dead pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()

"""`python -m convprof` and the `convprof` command: take the signals first, then load the CLI."""

from convprof import signals


def main() -> None:
    """Run convprof; a signal from the first line to the last ends it with 130 or 143."""
    # Before the command line and its libraries load, so that no moment is left uncovered.
    signals.take()
    from convprof.cli import main as run

    try:
        run()
        status: object = 0
    except SystemExit as done:
        status = done.code
    signals.finish(status)


if __name__ == "__main__":
    main()

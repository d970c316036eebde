"""`python -m convprof` and the `convprof` command: take the signals first, then load the CLI."""

from convprof import signals


def main() -> None:
    """Run convprof; a signal from the first line on ends it with 130 or 143."""
    # Before the command line and its libraries load, so that no moment is left uncovered.
    signals.take()
    from convprof.cli import main as run

    run()


if __name__ == "__main__":
    main()

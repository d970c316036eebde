"""`python -m convprof` and the `convprof` command: take the signals first, then load the CLI."""

from convprof import signals


def main() -> None:
    """Run convprof; a signal from the first line on ends it with 130 or 143."""
    # Before the command line and its libraries load: nothing is held yet, so a signal ends at once.
    signals.end_at_once()
    from convprof.cli import main as run

    run()


if __name__ == "__main__":
    main()

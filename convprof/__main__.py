"""`python -m convprof`."""

from convprof.cli import main

main()

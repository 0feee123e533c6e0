"""`python -m mpmd`: the same entry point as the `mpmd` console script."""

from mpmd.cli import main

main()

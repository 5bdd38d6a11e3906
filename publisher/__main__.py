"""`python -m publisher` runs the command line."""

from .entry import main

main()

"""`python -m publisher` runs the command line."""

from .cli import main

main()

"""`python -m cocmail` is the same as the `cocmail` command."""

from .cli import main

main()

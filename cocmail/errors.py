"""Errors a person at the keyboard caused, kept apart from the library's other errors.

The CLI answers a UserError with its message and exit code 1, without a traceback.
It lives here, not in cli.py, so that library modules (views, backup) can raise it
without importing the command line.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the person at the keyboard (unknown case number, bad file...)."""

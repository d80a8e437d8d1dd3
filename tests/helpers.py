"""Moved to testsupport/helpers.py; these names stay importable from here for code written
before the move. New code imports testsupport.helpers."""

from testsupport.helpers import (
    SEND_AT_ONCE,
    STAFF_TOML,
    approve_as,
    body_of,
    mail,
    make_config,
    parse,
    spool,
)

__all__ = ["SEND_AT_ONCE", "STAFF_TOML", "approve_as", "body_of", "mail", "make_config",
           "parse", "spool"]

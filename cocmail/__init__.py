"""cocmail: runs a conference's Code of Conduct inbox by email."""

import logging as _logging

# The one place the version lives: pyproject.toml reads it (dynamic version), and
# `cocmail --version` and the daemon's start-up line show it. Every release bumps it
# (CHANGELOG.md says what changed), so that `pip install` of a new wheel replaces the
# old one instead of saying it is already installed.
__version__ = "0.2.0"

# mail-parser logs header values it cannot decode (addresses, subjects) and attachment
# names at ERROR level; cocmail's logs must never carry those. Set here, before any
# module parses mail, because the package root is imported first.
_logging.getLogger("mailparser").setLevel(_logging.CRITICAL + 1)

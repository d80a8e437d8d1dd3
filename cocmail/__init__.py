"""cocmail: runs a conference's Code of Conduct inbox by email."""

import logging as _logging

__version__ = "0.1.0"

# mail-parser logs header values it cannot decode (addresses, subjects) and attachment
# names at ERROR level; cocmail's logs must never carry those. Set here, before any
# module parses mail, because the package root is imported first.
_logging.getLogger("mailparser").setLevel(_logging.CRITICAL + 1)

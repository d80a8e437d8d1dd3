"""cocmail: runs a conference's Code of Conduct inbox by email."""

__version__ = "0.1.0"

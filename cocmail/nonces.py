"""The one source of randomness for tokens: the OS's, drawn here in the shell.

The core takes a nonce function through `Env.nonce` and `Composer(nonce=...)`, like the
clock, so its tests can fix every Message-ID and proposal id.
"""

from __future__ import annotations

import secrets

from .core.tokens import nonce_from


def new_nonce() -> str:
    """A fresh token nonce from the OS's random source."""
    return nonce_from(secrets.token_bytes)

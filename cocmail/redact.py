"""Keeping people and secrets out of logs and error texts.

Logs carry case numbers and Message-IDs, not addresses: `redact_addresses` is used
wherever text from outside (a server's answer, an exception, a traceback) reaches the
log (the CLI's log formatter, the pipeline, the daemon, delivery). OAuth2 tokens are
never logged: `redact_secrets` cuts them out of every text that may quote one (a token
helper's stderr, a server's refusal, an identity provider's error; see oauth.py).
"""

from __future__ import annotations

import re

from .core.addresses import ADDRESS

# A long run of token characters: access tokens, JWTs, refresh tokens, base64 blobs.
# "/" is left out so that paths and URLs in a server's or helper's words stay readable.
_OPAQUE = re.compile(r"[A-Za-z0-9._~+=-]{32,}")


def redact_addresses(text: str) -> str:
    """`text` with every mail address replaced by `<address>`."""
    return ADDRESS.sub("<address>", text)


def redact_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` without the given secrets and without anything that looks like a token."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[token]")
    return _OPAQUE.sub("[redacted]", text)

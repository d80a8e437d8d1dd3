"""The three kinds of failure, and what each one leads to.

Every exception cocmail raises on purpose belongs to one family, so that the code
catching it can act on the kind of failure instead of guessing from the class name:

- `UserError`: the person at the keyboard (or a staff member's command) asked for
  something wrong: a bad config key, an unknown case number. It is answered, never
  retried: the CLI prints its message and exits 1.
- `OperationalError`: the world around cocmail is not ready: the database is locked,
  the SMTP or IMAP server cannot be reached, a template the team installed is broken.
  Nothing is wrong with the mail being handled, so it is retried with backoff and
  NEVER counts toward its quarantine (three "database is locked" must not quarantine
  a harassment report). The CLI exits 75 (EX_TEMPFAIL: "try again later").
- `MessageError`: this one message is bad (it cannot be parsed, it is over a cap). It
  counts toward the message's quarantine; the rest of the inbox goes on.

The family lives in the core because core modules raise its members (the parser's
MessageError, the workflow's refusals); `cocmail.errors` re-exports it for the shell.
Pure: no IO.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from a person (unknown case number, bad file, bad config...): answered."""


class OperationalError(Exception):
    """A temporary failure outside the message (database locked, server unreachable,
    a broken template): retried later, never counted toward a quarantine."""


class MessageError(Exception):
    """This message is bad: counted toward its quarantine (the text says why)."""

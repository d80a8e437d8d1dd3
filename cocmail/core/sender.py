"""Who wrote a report: the From address whenever there is one, however odd its name.

Two rules for two uses (docs/mail.md, "Who may run commands"): commands run only for a From
that is beyond doubt (identity.py: exactly one From header, one mailbox, no header
defects), because a wrongly run command cannot be taken back. A report is the other
way round: a reporter whose display name is raw GBK bytes or a long encoded word still
wrote from a plain address, and losing it costs them the acknowledgement and the team
its only way to answer. So the reporter is the one address of the one From header,
defects or not (with no From at all, the one address of the one Sender header); only a
missing or ambiguous address leaves them unknown, and `why` then tells the team, in
their notification, what was wrong.

An address a staff member owns is never taken leniently: mail that claims to be staff
and fails the strict rules is identity's business (held, never acknowledged).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import getaddresses

from .identity import Identity
from .model import Address, ParsedMessage, Roster

# The defect message.py records when the From's one address was dug out of a value the
# address parser could not read: the name beside it is then a guess.
_DUG_OUT = "From header without exactly one mailbox"


@dataclass(frozen=True)
class Reporter:
    address: Address | None
    why_unknown: str | None = None  # for staff: why no address could be trusted
    greet: bool = True  # the name is fit to greet them by in the acknowledgement


def reporter_of(msg: ParsedMessage, identity: Identity, roster: Roster) -> Reporter:
    """The sender to record (and acknowledge) as the reporter of a new report."""
    if identity.address is not None:
        return Reporter(identity.address)
    if msg.from_header_count == 0:
        # RFC 5322's Sender is who put the mail on its way: with no From, it is the one
        # address the mail names as its writer's (a script or an old form may send so).
        sender = _only_sender(msg)
        if sender is not None and roster.by_email(sender.email) is None:
            return Reporter(sender)
        return Reporter(None, "the mail has no From header")
    if msg.from_header_count > 1:
        return Reporter(None, f"the mail has {msg.from_header_count} From headers, so it is"
                              " not clear which one is the sender")
    if not msg.from_:
        return Reporter(None, "the From header holds no readable address")
    if len(msg.from_) > 1:
        return Reporter(None, f"the From header holds {len(msg.from_)} addresses, so it is"
                              " not clear which one is the sender")
    address = msg.from_[0]
    if roster.by_email(address.email) is not None:
        return Reporter(None, "the From header names a staff address but is malformed")
    # "Hello JosÃ(," would greet someone by bytes no charset could read: "Hello," then.
    return Reporter(address, greet=_DUG_OUT not in msg.defects and "\ufffd" not in address.name)


def _only_sender(msg: ParsedMessage) -> Address | None:
    """The one mailbox of the one Sender header, if that is what it holds."""
    values = msg.header("Sender")
    if len(values) != 1:
        return None
    found = [(name, email) for name, email in getaddresses([values[0]]) if "@" in email]
    if len(found) != 1:
        return None
    name, email = found[0]
    return Address(name.strip(), email)

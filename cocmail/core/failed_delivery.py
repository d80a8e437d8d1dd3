"""Who is told when a mail cannot be delivered, and what they are told.

The outbox gives up on a mail (the server refused it for good, or it ran out of
retries) and asks `notices` what to queue in the same transaction: a `delivery_failed`
notice to every staff member who may get mail about the case (not those recused from
it). The notice says whom the mail was for by role, never by address, so it reads the
same to every member. A notice that itself fails is not announced: its recipients are
the staff it would go to again, and each failure would queue the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from .case import Case
from .effects import OutMail
from .env import Env
from .mail_contexts import DeliveryFailedContext
from .vocabulary import MailKind, Recipient

# Whom an undelivered mail was for, by its token role, as the notice words it.
RECIPIENT_WORDS: dict[str, str] = {
    Recipient.REPORTER: "the reporter",
    Recipient.VICTIM: "the person affected",
    Recipient.ACCUSED: "the reported person",
    Recipient.DSF: "the DSF",
    Recipient.WITNESS: "a witness",
    Recipient.OTHER: "someone",
}
STAFF_WORDS = "a staff member"


@dataclass(frozen=True, kw_only=True)
class Undelivered:
    """The outbox row of the mail given up on, as much of it as the notice needs."""

    kind: str
    role: str | None
    subject: str | None
    case_number: int | None


def recipient_words(role: str | None) -> str:
    """Whom a mail with token role `role` was for, in words ("the reporter")."""
    if role and role.startswith("s"):  # s<N>: see vocabulary.staff_role
        return STAFF_WORDS
    return RECIPIENT_WORDS.get(role or "", "someone")


def notices(failed: Undelivered, error: str, case: Case | None, env: Env) -> list[OutMail]:
    """The notices to queue because `failed` was not delivered (`case`: its case, when
    it has one and the store still holds it; `error`: the last error, for the team)."""
    if failed.kind == MailKind.DELIVERY_FAILED:
        return []
    recused = case.recused if case else ()
    return [OutMail(to=address, role=role, case=failed.case_number,
                    context=DeliveryFailedContext(recipient_role=recipient_words(failed.role),
                                                  subject=failed.subject or "", error=error))
            for address, role in env.staff_recipients(recused)]

"""Mail to `[process] conflict_contacts`: a report that names every member who could see it.

Such a report must not reach the people it is about, and must not be left unread
either; so it goes to people outside the team (the board, the committee the event
reports to), and so does any later mail on the case while no member can see it. They
are not staff: cocmail takes no commands from them, and their replies are kept on the
case. The mail tells them so, and how to reach the reporter.
"""

from __future__ import annotations

from .case import Case
from .conflicts import Screened, seeing
from .effects import OutMail
from .env import Env
from .mail_contexts import ConflictReportContext
from .model import Address


def contact_mails(case: Case, env: Env, screened: Screened | None, *, sender: str,
                  subject: str, text: str, date: str, attachments: tuple[str, ...] = (),
                  followup: bool = False, exclude: str | None = None) -> list[OutMail]:
    """One mail per conflict contact with the report (or a later message) in full; never
    back to the contact who wrote it (`exclude`)."""
    notice = screened.notice() if screened is not None else None
    reporter = case.reporter.display() if case.reporter and not case.reporter_anonymous \
        else ("anonymous" if case.reporter_anonymous else "unknown")
    ctx = ConflictReportContext(
        named=(notice or {}).get("named", []), reporter=reporter,
        sender=sender, subject=subject, text=text, date=date,
        attachments=list(attachments), followup=followup,
        acknowledged=not followup and case.step("acknowledged") is not None)
    refs = (case.root_message_id,) if case.root_message_id else ()
    return [OutMail(to=Address("", contact), role="x", case=case.number, context=ctx,
                    references=refs) for contact in env.conflict_contacts if contact != exclude]


def team_blind(case: Case, env: Env) -> bool:
    """True when no member can see the case and conflict contacts stand in for the team."""
    return bool(env.conflict_contacts) and not seeing(env.roster, case.recused)

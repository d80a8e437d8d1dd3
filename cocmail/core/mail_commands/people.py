"""Who is on the case: the reporter, the person affected, the reported people,
witnesses, and the team members who handle it or are kept out of it.

Pure. A person named here who is a team member is excluded from the case at once
(core/conflicts.py); excluding or bringing back a member may need a second member.
"""

from __future__ import annotations

from dataclasses import replace

from ..case import Person
from ..conflicts import include, member_for
from ..effects import OutMail
from ..sanctions import today, with_state
from ..vocabulary import Party, Step, staff_role
from ..workflow import Refused, _same, earlier_warning, staff_case_context
from .proposals import _approver_names, _deciders, _propose
from .values import Command
from .work import STAFF, MailCommand, Value, _named_person, _person, _set, _staff, _Work


def do_reporter(w: _Work, cmd: Command) -> str:
    value = cmd.value.strip()
    if value.lower() == "anonymous":
        # Not named outside the team (docs/process.md): the team keeps the name and address,
        # answers with #reply, and the name checks keep knowing the name.
        _set(w, reporter_anonymous=True)
        return ("reporter set to anonymous: never named outside the team (the DSF report, "
                "its attachments, public texts); you can still #reply to them"
                + _withdraw_held_dsf(w))
    p = _person(value, "reporter")
    _set(w, reporter=p, reporter_anonymous=False)
    return f"reporter set to {p.display()}" + _named_person(w, p)


def _withdraw_held_dsf(w: _Work) -> str:
    """A DSF report still held back was written while the reporter was named: withdraw
    it (its queued mail is cancelled) so that it is written again without them."""
    hold = w.case.dsf_hold_until
    if w.case.step("dsf_reported") is None or hold is None or hold <= w.env.now:
        return ""
    w.case = w.case.with_step("dsf_reported", None)
    _set(w, dsf_hold_until=None)
    return (f". The DSF report that was to go out on {w.env.local(hold)} was written while "
            "they were named: it is withdrawn; send #report-dsf again")


def do_victim(w: _Work, cmd: Command) -> str:
    value = cmd.value.strip()
    if value.lower() == "reporter":
        _set(w, victim=None, victim_is_reporter=True)
        return "the person affected is the reporter"
    p = _person(value, "victim")
    _set(w, victim=p, victim_is_reporter=False)
    return f"person affected set to {p.display()}" + _named_person(w, p)


def do_accused(w: _Work, cmd: Command) -> str:
    p = _person(cmd.value.strip(), "accused")
    if any(_same(p, q) for q in w.case.accused):
        return f"{p.display()} is already named as accused"
    _set(w, accused=w.case.accused + (p,))
    earlier = with_state(w.env.history.earlier(p, w.case.number), today(w.env))
    w.earlier.extend(earlier)
    return f"accused added: {p.display()}" + _named_person(w, p) + earlier_warning(earlier)


def do_witness(w: _Work, cmd: Command) -> str:
    p = _person(cmd.value.strip(), "witness")
    if any(_same(p, q) for q in w.case.witnesses):
        return f"{p.display()} is already a witness"
    _set(w, witnesses=w.case.witnesses + (p,))
    return f"witness added: {p.display()}" + _named_person(w, p)


def do_handler(w: _Work, cmd: Command) -> str:
    m = _staff(w, cmd.value.strip())
    if m.email in w.case.recused:
        raise Refused(f"{m.name} is recused from this case")
    if m.email not in w.case.handlers:
        _set(w, handlers=w.case.handlers + (m.email,))
    return f"handler added: {m.name}"


def _last_member_check(w: _Work, email: str) -> None:
    if not w.env.staff_recipients(w.case.recused + (email,)):
        raise Refused("they are the last team member who can see this case; a case is never "
                      "hidden from the whole team")


def _membership(w: _Work, cmd: Command, *, exclude: bool) -> str:
    """#recuse (exclude) and #include: a member out of the case, or back on it.

    Either (but stepping aside yourself) waits for a second member's #approve
    while there is one to ask: one member must never be able to hide a case from the rest
    of the team (issue 11, item 7), nor bring back someone it excluded (issue 21). Never
    the member it concerns decides: with nobody else to ask, the sender does."""
    m = _staff(w, cmd.value.strip())
    if (m.email in w.case.recused) == exclude:
        return f"{m.name} is {'already' if exclude else 'not'} excluded from this case"
    if exclude:
        _last_member_check(w, m.email)
    elif any(member_for(p, w.env.roster) == m for p in w.case.accused):
        # Brought back, they would read the report and who made it, and could act on it.
        raise Refused(f"{m.name} is a reported person on this case: the team handles it "
                      "without them (if they were added as the reported person by mistake, "
                      "#remove accused them first)")
    yourself = exclude and m.email == w.actor.email  # stepping aside needs nobody's yes
    if not yourself and _deciders(w, m.email):
        _propose(w, "recuse" if exclude else "include", (), target=m.email)
        what = f"exclude {m.name}" if exclude else f"bring {m.name} back into this case"
        return (f"proposed: {what}; waiting for another team member's #approve "
                f"({_approver_names(w)})")
    if exclude:
        _recuse(w, m.email)
        return f"{m.name} is excluded from this case and gets no more mail about it"
    _include(w, m.email)
    return f"{m.name} is back on this case (nobody else on the team could decide it)"


def do_recuse(w: _Work, cmd: Command) -> str:
    return _membership(w, cmd, exclude=True)


def do_include(w: _Work, cmd: Command) -> str:
    return _membership(w, cmd, exclude=False)


def _include(w: _Work, email: str) -> None:
    """`email` back on the case, and mailed the case as it stands, to answer it."""
    w.case = include(w.case, email)
    member = w.env.roster.by_email(email)
    if member is None:
        return
    w.mails.append(OutMail(to=member.address, role=staff_role(member.sid),
                           case=w.case.number,
                           context=replace(staff_case_context(
                               w.case, member.name, urgent=w.case.urgent, earlier=[], env=w.env,
                               commands=list(w.reference)), back=True),
                           subject="You are back on this case"))
    w.mailed.append(f"{member.name} (back on the case)")


def _recuse(w: _Work, email: str) -> None:
    _set(w, recused=w.case.recused + (email,),
         handlers=tuple(h for h in w.case.handlers if h != email))



def do_remove(w: _Work, cmd: Command) -> str:
    """Take a reported person or a witness off the case (named by mistake, or the wrong
    person). Saved, the case no longer names them: a reported person leaves the
    earlier-case warnings and the attendee check with it."""
    role, _, rest = cmd.value.strip().partition(" ")
    role = role.lower()
    if role not in (Party.ACCUSED, Party.WITNESS) or not rest.strip():
        raise Refused("#remove needs accused or witness, then their name or address: "
                      "#remove accused Dan Doe")
    who = _person(rest, role)
    attr = "accused" if role == Party.ACCUSED else "witnesses"
    on_case: tuple[Person, ...] = getattr(w.case, attr)
    gone = [p for p in on_case if _same(who, p)]
    if not gone:
        named = ", ".join(p.display() for p in on_case) or "nobody"
        raise Refused(f"no {role} on the case is {who.display()} (as {role}, the case names: "
                      f"{named})")
    _set(w, **{attr: tuple(p for p in on_case if p not in gone)})
    said = f"{role} removed: " + ", ".join(p.display() for p in gone)
    told = w.case.step(Step.ACCUSED_INFORMED)
    if role == Party.ACCUSED and told is not None:
        said += f". The complaint notice went out on {w.env.local(told)}; it stays recorded"
    for p in gone:
        member = member_for(p, w.env.roster)
        if member is not None and w.case.is_recused(member.email):
            said += (f". {member.name} stays excluded from the case (#include brings them "
                     "back)")
    return said


COMMANDS = (
    MailCommand(name="reporter", syntax="#reporter Name <addr> | anonymous",
                help="who made the report", handler=do_reporter, place=10,
                value=Value.PERSON),
    MailCommand(name="victim", syntax="#victim Name <addr> | reporter",
                help="set the person affected (by default, the reporter)", handler=do_victim,
                place=20, value=Value.PERSON),
    MailCommand(name="accused", syntax="#accused Name <addr>",
                help="add a reported person (or just a name)", handler=do_accused, place=30,
                value=Value.PERSON),
    MailCommand(name="witness", syntax="#witness Name <addr>", help="add a witness",
                handler=do_witness, place=40, value=Value.PERSON),
    MailCommand(name="remove", syntax="#remove accused|witness Name <addr>",
                help="take a reported person or a witness off the case", handler=do_remove,
                place=45, value=Value.PERSON),
    MailCommand(name="handler", syntax="#handler <staff addr>",
                help="add a team member who handles the case", handler=do_handler,
                place=100, value=Value.STAFF),
    MailCommand(name="recuse", syntax="#recuse <staff addr>",
                help="keep a team member out of this case (conflict)", handler=do_recuse,
                place=110, value=Value.STAFF),
    MailCommand(name="include", syntax="#include <staff addr>",
                help="bring back a member the case excluded (another member approves)",
                handler=do_include, place=120, value=Value.STAFF,
                mails_to=frozenset({STAFF})),
)

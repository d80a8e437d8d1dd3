"""Every table keyed by a domain word covers every member of core/vocabulary.py.

A mail kind added to `MailKind` without a subject is a KeyError the day the mail is sent;
an outcome without a retention period or a transparency group is a case that is kept too
long or counted nowhere. These tests make such a gap fail `make test` instead. A table
that leaves members out on purpose names them here, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import pytest

from cocmail.config_sections import APPROVAL_KINDS
from cocmail.core import (
    conflicts,
    correspondence,
    failed_delivery,
    identity_guard,
    intake,
    retention,
    transparency,
    who_wrote,
    workflow,
)
from cocmail.core.case import OUTCOME_LABELS, STEP_LABELS, STEPS
from cocmail.core.commands import OUTCOMES
from cocmail.core.effects import (
    PROPOSAL_SHORT,
    PROPOSAL_SUBJECTS,
    PROPOSAL_WHAT,
    RELAY_SUBJECTS,
    REPLY_KINDS,
    SUBJECTS,
)
from cocmail.core.identity import _ROLE_NAMES
from cocmail.core.mail_commands.approval import APPROVED_STEPS
from cocmail.core.tokens import Token, parse_token
from cocmail.core.vocabulary import (
    NO_HARASSER_OUTCOMES,
    OUTWARD_KINDS,
    SANCTION_OUTCOMES,
    MailKind,
    Outcome,
    Party,
    ProposalKind,
    Recipient,
    Step,
    staff_role,
    staff_sid,
)
from cocmail.render import TEMPLATES_DIR


def gaps(table: Iterable[str], words: type[StrEnum], *, left_out: Iterable[str] = ()
         ) -> tuple[list[str], list[str]]:
    """(members missing from `table`, keys of `table` that are no member), as text.
    `left_out`: the members the table leaves out on purpose."""
    keys, members, skip = set(table), set(words), set(left_out)
    missing = [str(w) for w in words if w not in keys and w not in skip]
    unknown = sorted(str(k) for k in keys if k not in members)
    return missing, unknown


def assert_covers(table: Iterable[str], words: type[StrEnum], name: str, *,
                  left_out: Iterable[str] = ()) -> None:
    missing, unknown = gaps(table, words, left_out=left_out)
    assert not missing, f"{name} has no entry for {words.__name__} {missing}"
    assert not unknown, f"{name} has entries for words {words.__name__} does not have: {unknown}"


# ---------------------------------------------------------------------------- mail kinds


def test_every_mail_kind_has_a_subject():
    assert_covers(SUBJECTS, MailKind, "core/effects.py SUBJECTS")


def test_every_mail_kind_has_a_template_file():
    missing = [k.value for k in MailKind if not (TEMPLATES_DIR / f"{k}.txt").is_file()]
    assert not missing, f"no templates/<kind>.txt for {missing}"


# Outward mail the DSF committee does not get as correspondence, each with its reason.
NOT_CORRESPONDENCE: dict[MailKind, str] = {
    MailKind.WITNESS_REPLY: "witnesses' mail is not correspondence, so neither is ours to them",
}


def test_every_mail_kind_is_declared_correspondence_or_not():
    assert_covers(correspondence.AS_CORRESPONDENCE, MailKind,
                  "core/correspondence.py AS_CORRESPONDENCE")


def test_every_outward_kind_is_correspondence_or_deliberately_not():
    out = set(correspondence.CORRESPONDENCE_OUT)
    undecided = [str(k) for k in OUTWARD_KINDS if k not in out and k not in NOT_CORRESPONDENCE]
    assert not undecided, ("core/correspondence.py CORRESPONDENCE_OUT neither has nor "
                           f"deliberately leaves out {undecided}")
    both = [str(k) for k in NOT_CORRESPONDENCE if k in out]
    assert not both, f"{both} are correspondence and also left out of it"


def test_only_outward_mail_is_correspondence():
    """Staff mail (relays, transcripts, the digest) never goes to the committee."""
    inward = sorted(set(correspondence.CORRESPONDENCE_OUT) - set(OUTWARD_KINDS))
    assert not inward, f"not mail to the people of a case, yet correspondence: {inward}"


def test_reply_kinds_are_mail_kinds():
    _, unknown = gaps(REPLY_KINDS, MailKind)
    assert not unknown, f"core/effects.py REPLY_KINDS names no mail kind: {unknown}"


# ------------------------------------------------------------------------------ outcomes


def test_every_outcome_has_words_for_the_mails():
    assert_covers(OUTCOME_LABELS, Outcome, "core/case.py OUTCOME_LABELS")


def test_staff_can_record_every_outcome_and_only_those():
    assert tuple(OUTCOMES) == tuple(Outcome)


def test_every_outcome_has_a_retention_period_the_policy_has():
    assert_covers(retention.RETENTION_PERIOD, Outcome, "core/retention.py RETENTION_PERIOD")
    settings = set(retention.Policy.__annotations__)
    unknown = {str(o): p for o, p in retention.RETENTION_PERIOD.items() if p not in settings}
    assert not unknown, f"retention periods that are no [retention] setting: {unknown}"


def test_kept_cases_are_those_of_sanctions():
    assert set(retention.KEPT_OUTCOMES) <= set(SANCTION_OUTCOMES)


def test_every_outcome_is_in_exactly_one_transparency_group():
    assert_covers(transparency.GROUP_OF, Outcome, "core/transparency.py GROUP_OF")
    groups = {key for key, _label in transparency.GROUPS}
    assert set(transparency.GROUP_OF.values()) <= groups - {"open"}


def test_every_outcome_is_counted_in_the_statistics():
    assert_covers(transparency.STAT_OF, Outcome, "core/transparency.py STAT_OF")
    assert set(transparency.STAT_OF.values()) <= set(transparency.STAT_KEYS)


def test_outcome_groups_name_outcomes():
    for name, group in (("NO_HARASSER_OUTCOMES", NO_HARASSER_OUTCOMES),
                        ("SANCTION_OUTCOMES", SANCTION_OUTCOMES)):
        _, unknown = gaps(group, Outcome)
        assert not unknown, f"{name} names unknown outcomes {unknown}"
    assert not set(NO_HARASSER_OUTCOMES) & set(SANCTION_OUTCOMES)


# --------------------------------------------------------------------------------- steps


def test_every_step_has_a_label_and_steps_keep_their_order():
    assert_covers(STEP_LABELS, Step, "core/case.py STEP_LABELS")
    assert STEPS == tuple(Step)


# ------------------------------------------------------------------- parties, recipients


def test_every_token_role_has_a_name_for_staff():
    assert_covers(_ROLE_NAMES, Recipient, "core/identity.py _ROLE_NAMES")


def test_every_token_role_has_words_for_a_failed_delivery():
    assert_covers(failed_delivery.RECIPIENT_WORDS, Recipient,
                  "core/failed_delivery.py RECIPIENT_WORDS")


@pytest.mark.parametrize("role", [*Recipient, staff_role(3)])
def test_a_token_issued_to_anyone_reads_back(role: str):
    secret = b"k" * 32
    token = Token(12, role, "abcd1234")
    assert parse_token(secret, token.text(secret)) == token


def test_staff_roles_read_back_and_others_are_not_staff():
    assert staff_role(7) == "s7"
    assert staff_sid(staff_role(7)) == 7
    assert all(staff_sid(r) is None for r in Recipient)
    assert staff_sid("s") is None and staff_sid("sx") is None
    assert staff_sid("s\u00b2") is None  # a digit int() cannot read is no staff number


def test_every_party_has_words_in_the_intake_mails():
    assert_covers(intake.ROLE_WORDS, Party, "core/intake.py ROLE_WORDS")


def test_every_party_has_words_in_the_conflict_report():
    assert_covers(conflicts.ROLE_WORDS, Party, "core/conflicts.py ROLE_WORDS")


@pytest.mark.parametrize("name", ["ROLE_FILE", "ROLE_TEXT"])
def test_correspondence_names_every_party_whose_mail_it_carries(name: str):
    # Witnesses' mail is not correspondence (core/correspondence.py): left out on purpose.
    assert_covers(getattr(correspondence, name), Party, f"core/correspondence.py {name}",
                  left_out=[Party.WITNESS])


def test_every_party_who_writes_has_a_relay_subject():
    """The relay's subject says who wrote (effects.RELAY_SUBJECTS, keyed by who_wrote's
    words for each party and the committee); a party without one would fall through to
    "Someone not on the case wrote"."""
    missing = [f"{who} ({words!r})" for who, words in who_wrote.WORDS.items()
               if words not in RELAY_SUBJECTS]
    assert not missing, f"core/effects.py RELAY_SUBJECTS has no subject for {missing}"
    missing, _ = gaps(who_wrote.WORDS, Party)
    assert not missing, f"core/who_wrote.py WORDS has no words for {missing}"


def test_every_protected_party_is_named_in_the_identity_guard():
    # The guard keeps the reporter's, victim's and witnesses' names out of mail to the
    # reported person: the reported person is the one it protects them from.
    assert_covers(identity_guard.WHOSE, Party, "core/identity_guard.py WHOSE",
                  left_out=[Party.ACCUSED])


# -------------------------------------------------------------------- decision findings


def test_decision_findings_are_outcomes_worded_by_the_decision_mail():
    _, unknown = gaps(workflow._FINDINGS, Outcome)
    assert not unknown, f"core/workflow.py _FINDINGS names unknown outcomes {unknown}"
    template = (TEMPLATES_DIR / "victim_decision.txt").read_text()
    unworded = [str(f) for f in workflow._FINDINGS if f'finding == "{f}"' not in template]
    assert not unworded, f"templates/victim_decision.txt has no wording for {unworded}"


# ------------------------------------------------------------------------ proposal kinds


@pytest.mark.parametrize("name, table", [("PROPOSAL_WHAT", PROPOSAL_WHAT),
                                         ("PROPOSAL_SHORT", PROPOSAL_SHORT)])
def test_every_proposal_kind_says_what_it_would_do(name: str, table: dict[str, str]):
    assert_covers(table, ProposalKind, f"core/effects.py {name}")


# A reply to the reported person keeps the plain "Approval needed" subject.
NO_OWN_SUBJECT = [ProposalKind.ACCUSED_REPLY]


def test_every_proposal_kind_has_a_subject_or_deliberately_not():
    assert_covers(PROPOSAL_SUBJECTS, ProposalKind, "core/effects.py PROPOSAL_SUBJECTS",
                  left_out=NO_OWN_SUBJECT)


def test_approved_mail_records_its_step():
    # A reply may be sent many times and is no step; a member's recusal is no mail.
    assert_covers(APPROVED_STEPS, ProposalKind, "core/mail_commands/approval.py APPROVED_STEPS",
                  left_out=[ProposalKind.ACCUSED_REPLY, *conflicts.MEMBER_KINDS])
    _, unknown = gaps(APPROVED_STEPS.values(), Step)
    assert not unknown


def test_configurable_approvals_and_member_kinds_are_proposal_kinds():
    for name, kinds in (("config_sections.py APPROVAL_KINDS", APPROVAL_KINDS),
                        ("core/conflicts.py MEMBER_KINDS", conflicts.MEMBER_KINDS)):
        _, unknown = gaps(kinds, ProposalKind)
        assert not unknown, f"{name} names unknown proposal kinds {unknown}"
    assert not set(APPROVAL_KINDS) & set(conflicts.MEMBER_KINDS)

"""Who sent a message, and whether that claim is proven well enough to run staff commands.

A From header is just text anyone can write, so a staff address alone never authenticates.
It takes one of two proofs (docs/mail.md, "Who may run commands"):

- the mail answers a signed token cocmail issued *to that staff member* (a Message-ID in
  In-Reply-To/References, or a plus-address recipient), which only someone who received our
  mail can know; or
- the receiving MTA we trust (its authserv-id is configured) says in the topmost
  Authentication-Results header it wrote that DMARC passed, or that a DKIM signature of a
  domain aligned with the From domain passed.

Everything else (Reply-To, Sender, display names, headers of servers we do not trust) is
ignored. When the proofs fail, `problems` says why in plain English: the staff member sees
it in the transcript that holds their commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import authres

from .model import Address, ParsedMessage, Roster, StaffMember
from .tokens import Token, token_from_address, token_from_message_id
from .vocabulary import Recipient

# Who a non-staff token was issued to, for "it answers cocmail mail sent to ...".
_ROLE_NAMES: dict[Recipient, str] = {
    Recipient.REPORTER: "the reporter", Recipient.VICTIM: "the person affected",
    Recipient.ACCUSED: "a reported person", Recipient.DSF: "the DSF",
    Recipient.WITNESS: "a witness", Recipient.OTHER: "someone outside the team"}
# The authserv-id is the first word of the header (after optional comments); it is read
# by hand too so that an unparseable header from a trusted server still stops the search
# instead of letting a lower (possibly forged) header decide.
_AUTHSERV_ID = re.compile(r"\s*(?:\([^()]*\)\s*)*([^\s;()]+)")
# inbound.source -> the way in, as `security.authentication_results_via` names it. Any
# other source (the IMAP watcher's "imap", the demo, a test calling App.receive) is mail
# taken from the mailbox the MX delivered to.
_ARRIVAL_PATHS = {"smtp": "listener", "ingest": "ingest"}
_PATH_NAMES = {"imap": "IMAP", "listener": "the embedded SMTP listener",
               "ingest": "cocmail ingest"}
_SHOWN_CHARS = 60
STAFF_TOKEN_DAYS_AFTER_CLOSE = 30
_MAX_AUTHRES_CHARS = 8000  # a real header with several signatures stays far below


@dataclass(frozen=True)
class Identity:
    """The sender as cocmail sees it, and the proof (or lack of it) that it is staff."""

    address: Address | None  # the single From mailbox; None if From is missing, repeated,
    #                          holds several mailboxes, or has header defects
    staff: StaffMember | None  # roster member owning that address (email or alias)
    token_cases: frozenset[int]  # cases whose tokens, issued to THIS staff member, it answers
    domain_pass: str | None  # "dmarc" or "dkim" when a trusted Authentication-Results passes
    tokens: tuple[Token, ...]  # every valid cocmail token found, for matching
    problems: tuple[str, ...]  # why authentication failed, for the staff transcript
    # The same tokens by where they were found (read once, here): matching tries the
    # thread headers' before the plus-addresses'.
    thread_tokens: tuple[Token, ...] = ()
    address_tokens: tuple[Token, ...] = ()
    # Why the From address may be forged ("DMARC failed", "SPF and DKIM failed"), as our
    # trusted MX saw it; None when it passed, or nothing trusted says (sender_doubt).
    forged: str | None = None

    def with_expired_token(self, case: int, closed_days: int) -> Identity:
        """The same sender, but a token of `case` no longer proves anything: the case
        closed more than STAFF_TOKEN_DAYS_AFTER_CLOSE days ago (tokens travel in every
        staff mail's References, and must not stay bearer credentials for ever)."""
        if case not in self.token_cases:
            return self
        return replace(self, token_cases=self.token_cases - {case}, problems=(
            *self.problems, f"it answers mail of case {case}, which closed {closed_days} days"
            f" ago: cocmail's tokens stop proving who you are "
            f"{STAFF_TOKEN_DAYS_AFTER_CLOSE} days after a case closes"))

    def authenticated_for(self, case: int | None) -> bool:
        """May this mail run commands on `case`? (A token proves only its own case.)"""
        if self.staff is None:
            return False
        return self.domain_pass is not None or (case is not None and case in self.token_cases)


def arrival_path(source: str) -> str:
    """The way in ("imap", "listener", "ingest") of an inbound row's `source`."""
    return _ARRIVAL_PATHS.get(source, "imap")


def identify(msg: ParsedMessage, roster: Roster, secret: bytes, *, inbox_address: str,
             trusted_authserv_ids: tuple[str, ...], plus_addressing: bool,
             arrived_via: str = "imap", authres_via: tuple[str, ...] = ("imap",)) -> Identity:
    """Work out the sender of `msg` and every proof that it is the staff member it claims.

    `arrived_via` is how the mail came in (see `arrival_path`); Authentication-Results
    count only when that way is listed in `authres_via`, because a header is only as
    good as the certainty that our MX, and not the sender, wrote it.
    """
    problems: list[str] = []
    address = _single_from(msg, problems)
    staff = roster.by_email(address.email) if address is not None else None
    if address is not None and staff is None:
        problems.append(f"{address.email} is not a staff address")

    thread_tokens, address_tokens = _tokens(msg, secret, inbox_address, plus_addressing)
    tokens = _unique_tokens(thread_tokens + address_tokens)
    token_cases: frozenset[int] = frozenset()
    domain_pass: str | None = None
    if staff is not None and address is not None:
        token_cases = frozenset(t.case for t in tokens if t.staff_sid == staff.sid)
        domain_problems: list[str] = []
        if arrived_via in authres_via:
            domain_pass = _domain_pass(msg, address.domain, trusted_authserv_ids,
                                       domain_problems)
        else:
            domain_problems.append(
                f"Authentication-Results are not trusted on mail that arrives through"
                f" {_PATH_NAMES.get(arrived_via, arrived_via)}"
                " (security.authentication_results_via)")
        if domain_pass is None:
            problems += domain_problems
            problems += _token_problems(msg, tokens, staff, token_cases, secret, inbox_address,
                                        plus_addressing)
    forged = (sender_doubt(msg, address.domain, trusted_authserv_ids)
              if address is not None and arrived_via in authres_via else None)
    return Identity(address=address, staff=staff, token_cases=token_cases,
                    domain_pass=domain_pass, tokens=tokens, problems=tuple(problems),
                    thread_tokens=thread_tokens, address_tokens=address_tokens,
                    forged=forged)


# --- the From mailbox ---------------------------------------------------------------------

def _single_from(msg: ParsedMessage, problems: list[str]) -> Address | None:
    """Exactly one From header with exactly one mailbox and no address defects, else None.

    Two From headers or two mailboxes let a mail client show one address while a filter
    checks the other; a defective header may be read differently by the MTA that checked
    DMARC. Either way the sender is unknown, so no address is better than a guess.
    """
    if msg.from_header_count != 1:
        problems.append(f"the mail has {msg.from_header_count} From headers instead of one")
        return None
    if len(msg.from_) != 1:
        problems.append(f"the From header holds {len(msg.from_)} addresses instead of one")
        return None
    if _from_defects(msg):
        problems.append("the From header is malformed (" + ", ".join(_from_defects(msg)) + ")")
        return None
    return msg.from_[0]


def _from_defects(msg: ParsedMessage) -> tuple[str, ...]:
    """Defects that may concern From.

    ParsedMessage lists address defects only by category when the parser gives no detail,
    and then a defect in To or Cc cannot be told from one in From: it counts, because a
    wrongly held command (staff can #confirm it) costs less than a wrongly run one.
    """
    out = []
    for defect in msg.defects:
        lowered = defect.lower()
        if "from" in lowered or lowered == "addressheaderdefect":
            out.append(defect)
    return tuple(out)


# --- tokens -------------------------------------------------------------------------------

def _tokens(msg: ParsedMessage, secret: bytes, inbox_address: str,
            plus_addressing: bool) -> tuple[tuple[Token, ...], tuple[Token, ...]]:
    """Valid tokens: (thread headers newest first, plus-addressed recipients)."""
    thread = [token_from_message_id(secret, mid) for mid in msg.thread_ids()]
    address = ([token_from_address(secret, a, inbox_address) for a in msg.recipient_addresses()]
               if plus_addressing else [])
    return _unique_tokens(thread), _unique_tokens(address)


def _unique_tokens(candidates: tuple[Token | None, ...] | list[Token | None]
                   ) -> tuple[Token, ...]:
    found: list[Token] = []
    for token in candidates:
        if token is not None and token not in found:
            found.append(token)
    return tuple(found)


def _token_problems(msg: ParsedMessage, tokens: tuple[Token, ...], staff: StaffMember,
                    token_cases: frozenset[int], secret: bytes, inbox_address: str,
                    plus_addressing: bool) -> list[str]:
    problems = []
    if token_cases:
        cases = ", ".join(f"#{n}" for n in sorted(token_cases))
        problems.append(f"it answers cocmail mail sent to you about case {cases} only")
    for token in tokens:
        if token.staff_sid is None:
            who = _ROLE_NAMES.get(token.role, "someone outside the team")
            problems.append(f"it answers cocmail mail sent to {who} (case #{token.case}),"
                            " not to you")
        elif token.staff_sid != staff.sid:
            problems.append(f"it answers cocmail mail sent to another staff member"
                            f" (case #{token.case}), not to you")
    if _forged_references(msg, secret, inbox_address, plus_addressing):
        problems.append("it refers to a cocmail message whose signature is invalid"
                        " (edited or forged)")
    if not tokens and not problems:
        problems.append("it is not a reply to a message cocmail sent to you")
    return _unique(problems)


def _forged_references(msg: ParsedMessage, secret: bytes, inbox_address: str,
                       plus_addressing: bool) -> bool:
    """Something shaped like a cocmail token whose HMAC does not verify."""
    for mid in msg.thread_ids():
        if mid.lower().startswith("cocmail.") and token_from_message_id(secret, mid) is None:
            return True
    if plus_addressing:
        prefix = inbox_address.lower().rpartition("@")[0] + "+"
        for address in msg.recipient_addresses():
            if (address.startswith(prefix)
                    and token_from_address(secret, address, inbox_address) is None):
                return True
    return False


# --- Authentication-Results ---------------------------------------------------------------

def _domain_pass(msg: ParsedMessage, from_domain: str, trusted_authserv_ids: tuple[str, ...],
                 problems: list[str]) -> str | None:
    """"dmarc" or "dkim" when the topmost trusted Authentication-Results passes, else None.

    Only the topmost header of a trusted server counts: our MTA adds its header on top, and
    anything below it (even with our server's name in it) may have come with the mail.
    """
    trusted = {t.strip().lower() for t in trusted_authserv_ids if t.strip()}
    if not trusted:
        problems.append("no mail server is trusted to check DKIM/DMARC"
                        " (security.trusted_authserv_ids is empty)")
        return None
    values = msg.header("Authentication-Results")
    value = next((v for v in values if _authserv_id(v) in trusted), None)
    if value is None:
        problems.append("no Authentication-Results header from a trusted mail server ("
                        + ", ".join(sorted(trusted)) + ")")
        return None
    header = _parse_authres(value)
    if header is None or str(header.authserv_id or "").strip('"').lower() not in trusted:
        problems.append(f"the Authentication-Results header of {_authserv_id(value)}"
                        " could not be read")
        return None
    return _verdict(header.results, from_domain, problems)


def sender_doubt(msg: ParsedMessage, from_domain: str,
                 trusted_authserv_ids: tuple[str, ...]) -> str | None:
    """Why the From address may be forged, or None: what the topmost trusted
    Authentication-Results header says against the From domain.

    "DMARC failed": the domain's owner publishes a policy and this mail broke it. "SPF
    and DKIM failed": no DMARC verdict, but the envelope sender of the From domain was
    sent from a server that domain does not allow (spf=fail, not softfail) and no
    signature of that domain passed. Anything less certain (no trusted header, softfail,
    a forwarder's own envelope domain, an unreadable header) is no doubt: a report
    whose sender goes unacknowledged because of a guess would be a worse failure.
    """
    trusted = {t.strip().lower() for t in trusted_authserv_ids if t.strip()}
    value = next((v for v in msg.header("Authentication-Results")
                  if _authserv_id(v) in trusted), None)
    header = _parse_authres(value) if value is not None else None
    if header is None:
        return None
    domain = from_domain.lower().rstrip(".")
    dmarc = [r for r in header.results if _method(r) == "dmarc"
             and _prop(r, "header", "from") in (None, domain)]
    if any(_result(r) == "pass" for r in dmarc):
        return None
    if any(_result(r) == "fail" for r in dmarc):
        return "DMARC failed"
    spf_failed = any(
        _method(r) == "spf" and _result(r) == "fail"
        and _aligned(domain, (_prop(r, "smtp", "mailfrom") or "").rpartition("@")[2])
        for r in header.results)
    dkim_passed = any(
        _method(r) == "dkim" and _result(r) == "pass"
        and _aligned(domain, _prop(r, "header", "d") or "")
        for r in header.results)
    return "SPF and DKIM failed" if spf_failed and not dkim_passed else None


def _authserv_id(value: str) -> str:
    match = _AUTHSERV_ID.match(value)
    return match.group(1).strip('"').lower() if match else ""


def _parse_authres(value: str) -> authres.AuthenticationResultsHeader | None:
    """The parsed header, or None: an unreadable verdict is no verdict.

    authres recurses once per nested comment, so deep nesting ends in RecursionError; an
    absurdly long value is refused before parsing so a hostile one cannot cost seconds.
    """
    if len(value) > _MAX_AUTHRES_CHARS:
        return None
    try:
        return authres.parse_value(value)
    except (authres.AuthResError, ValueError, TypeError, IndexError, AttributeError,
            RecursionError):
        return None


def _verdict(results: list, from_domain: str, problems: list[str]) -> str | None:
    """Apply the DMARC-then-aligned-DKIM rule to the results of one trusted header.

    An explicit dmarc=fail vetoes a DKIM pass: the domain's own policy (strict alignment,
    say) has rejected the mail, and our relaxed alignment must not overrule it.
    """
    dmarc = [r for r in results if _method(r) == "dmarc"]
    dkim = [r for r in results if _method(r) == "dkim"]
    for result in dmarc:
        if _result(result) != "pass":
            continue
        header_from = _prop(result, "header", "from")
        if header_from == from_domain:
            return "dmarc"
        if header_from is None:
            # A pass without the domain it is for may vouch for any domain at all.
            problems.append("DMARC passed, but the header does not say for which domain"
                            " (header.from)")
            continue
        problems.append(f"DMARC passed for {_show(header_from)}, not for the From domain"
                        f" {from_domain}")
    failed = [r for r in dmarc if _result(r) == "fail"]
    if failed:
        problems.append(f"DMARC failed for {from_domain}")
        return None
    for result in dkim:
        d = _prop(result, "header", "d")
        if _result(result) == "pass" and d and _aligned(from_domain, d):
            return "dkim"
    problems += _dkim_problems(dkim, dmarc, from_domain)
    return None


def _dkim_problems(dkim: list, dmarc: list, from_domain: str) -> list[str]:
    problems = []
    for result in dkim:
        d = _prop(result, "header", "d")
        verdict = _result(result)
        if verdict == "pass" and d:
            problems.append(f"the DKIM signature of {_show(d)} passed but is not aligned with"
                            f" the From domain {from_domain}")
        elif verdict == "pass":
            problems.append("a DKIM signature passed but its domain (header.d) is not given")
        elif verdict == "none":
            problems.append("the mail has no DKIM signature")
        else:
            problems.append(f"DKIM {_show(verdict)}" + (f" for {_show(d)}" if d else ""))
    for result in dmarc:
        if _result(result) not in ("pass", "fail"):
            problems.append(f"DMARC {_show(_result(result))} for {from_domain}")
    if not dkim and not dmarc:
        problems.append("the trusted Authentication-Results header has no DMARC or DKIM result")
    return problems


def _aligned(from_domain: str, d: str) -> bool:
    """Relaxed alignment kept simple: equal, or From is a subdomain of the signing domain.

    A one-label `d` (a bare TLD) never aligns, so no registry-wide key can vouch for us.
    """
    d = d.lower().rstrip(".")
    from_domain = from_domain.lower().rstrip(".")
    if "." not in d:
        return False
    return from_domain == d or from_domain.endswith("." + d)


def _method(result: object) -> str:
    return str(getattr(result, "method", "") or "").lower()


def _result(result: object) -> str:
    return str(getattr(result, "result", "") or "").lower()


def _prop(result: object, ptype: str, name: str) -> str | None:
    for prop in getattr(result, "properties", None) or ():
        if str(prop.type).lower() == ptype and str(prop.name).lower() == name:
            value = str(prop.value or "").strip().lower().rstrip(".")
            return value or None
    return None


def _show(text: str) -> str:
    """Sender-controlled text in a transcript: short."""
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))

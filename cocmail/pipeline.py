"""The shell around the pure core: one stored inbound message -> one committed decision.

raw (already durable) -> `read` (pure: size cap, parse, screen, identify) -> the facts
the reading asks for, as the store has them now (duplicate? which case, loaded once;
next number; acks today; held commands) -> `decide(facts)` (pure) -> compose, all before
the write lock -> ONE write transaction: claim the message, gather the same facts again,
and commit the decision (case, people, messages, audit, outbox, inbound state) when
they are unchanged; when another process changed one meanwhile, decide again there, on
the new facts. Nothing here decides what a message means: core/decide.py does, once
per message unless its facts changed under it.

Failures by family (errors.py): an OperationalError (database locked, a broken
template) leaves the message pending, uncounted, and is raised for the caller to retry
later; any other exception counts, and the last allowed failure quarantines the
message and queues the staff notice in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from .clock import utcnow
from .config import Config
from .core.case import Case
from .core.compose import Attachment, Composed, Composer
from .core.correspondence import carries_correspondence, dsf_attachments, with_correspondence
from .core.decide import Facts, Reading, Settings, decide, quarantine, read
from .core.effects import AUTO_NOTICE_SUBJECT, OutMail
from .core.env import Env, History, NoHistory
from .core.evidence import MB, Carried, carry, files_in, with_files
from .core.failed_delivery import Undelivered, notices
from .core.flood import counts, role_on, sender_domain
from .core.flood_rules import FloodCounts, FloodRules
from .core.identity import arrival_path
from .core.intake import Decision, HeldEntry
from .core.languages import needs_detection, reporter_words
from .core.matching import match_case
from .core.model import Address, Roster
from .core.sender import reporter_of
from .core.team import TeamDetails
from .errors import OperationalError, as_operational
from .history import StoreHistory
from .nonces import new_nonce
from .redact import redact_addresses
from .render import Renderer, TemplateError
from .store import Store
from .store import cases as cases_db
from .store import inbound as inbound_db
from .store import outbox as outbox_db
from .store import people as people_db
from .store import proposals as proposals_db

log = logging.getLogger("cocmail.pipeline")
# What the team sent the reporter, the person affected and the reported person.
MAX_REASON_CHARS = 500  # of an exception's text kept as the message's error
MAX_NOTE_CHARS = 2000  # of a staff note copied into the audit log
_TEMPLATE_NAME = re.compile(r"template '([^']+)'")


def env_from_config(cfg: Config, roster: Roster, now: datetime,
                    history: History | None = None) -> Env:
    """The core's view of the world: the config's values, the roster and the time."""
    return Env(event=cfg.event.name, event_ends=cfg.event.ends, tz=cfg.event.tz,
               inbox=cfg.inbox.address, dsf=cfg.dsf.address, appeal=cfg.appeal.contact,
               roster=roster, now=now, history=history or NoHistory(), nonce=new_nonce,
               ack_limit=cfg.inbox.ack_limit_per_day,
               second_approval=cfg.process.second_approval,
               conflict_contacts=cfg.process.conflict_contacts, flood=flood_rules(cfg),
               details=team_details(cfg), urgent_words=cfg.process.urgent_words,
               event_starts=cfg.event.starts,
               first_response=timedelta(minutes=cfg.process.first_response_minutes),
               first_response_outside=timedelta(
                   minutes=cfg.process.first_response_minutes_outside),
               languages=cfg.event.languages, staff_language=cfg.process.staff_language)


def report_language(text: str, env: Env) -> str:
    """The language of a new report's own words (issue 26), for an event that speaks
    other languages than English; the detector loads on the first report that needs it."""
    if not needs_detection(env.languages):
        return ""
    from .language_detect import detect

    return detect(reporter_words(text))


def team_details(cfg: Config) -> TeamDetails:
    """The team's own details its mails carry ([event] coc_url, emergency_phone, support,
    [dsf] name)."""
    return TeamDetails(coc_url=cfg.event.coc_url, emergency_phone=cfg.event.emergency_phone,
                       support=cfg.event.support, committee=cfg.dsf.name)


def flood_rules(cfg: Config) -> FloodRules:
    """The circuit breaker's thresholds ([process] flood_*)."""
    p = cfg.process
    return FloodRules(window=timedelta(minutes=p.flood_window_minutes),
                      per_domain=p.flood_reports_per_domain, overall=p.flood_reports,
                      per_case=p.flood_followups_per_case)


class _Index:
    """matching.CaseIndex over the store, inside the deciding transaction."""

    def __init__(self, conn: Any):
        self.conn = conn

    def case_for_message_ids(self, mids: tuple[str, ...]) -> int | None:
        return cases_db.case_for_message_ids(self.conn, mids)

    def case_exists(self, number: int) -> bool:
        return cases_db.case_exists(self.conn, number)

    def is_on_case(self, number: int, email: str) -> bool:
        return people_db.is_on_case(self.conn, number, email)


@dataclass(frozen=True)
class _Ahead:
    """A decision made before the write lock, with the facts it was made on and its
    mail (None for a mail composed only in the transaction: see _reads_store)."""

    facts: Facts
    decision: Decision
    composed: list[Composed | None]


class _RecordedHistory:
    """The store's history for a decision made before the write lock: it keeps every
    answer it gave, so the transaction can ask again and see whether any changed."""

    def __init__(self, history: History):
        self.history = history
        self.answers: list[tuple[str, tuple[Any, ...], Any]] = []

    def earlier(self, person: Any, exclude_case: int) -> list[dict[str, Any]]:
        return self._ask("earlier", person, exclude_case)

    def mentioned(self, text: str, exclude_case: int) -> list[dict[str, Any]]:
        return self._ask("mentioned", text, exclude_case)

    def staff_text(self, case: int) -> str:
        return self._ask("staff_text", case)

    def unchanged(self) -> bool:
        """Would the store answer every question asked so far the same way now?"""
        return all(getattr(self.history, name)(*args) == answer
                   for name, args, answer in self.answers)

    def _ask(self, name: str, *args: Any) -> Any:
        answer = getattr(self.history, name)(*args)
        self.answers.append((name, args, answer))
        return answer


class Pipeline:
    def __init__(self, cfg: Config, store: Store, secret: bytes,
                 clock: Callable[[], datetime] = utcnow, renderer: Renderer | None = None):
        self.cfg = cfg
        self.store = store
        self.secret = secret
        self.clock = clock
        self.roster = store.write(people_db.roster, cfg.staff)
        self.renderer = renderer or Renderer(cfg.templates.dir)
        self.composer = Composer(secret=secret, renderer=self.renderer, inbox=cfg.inbox.address,
                                 tag=cfg.inbox.subject_tag, event=cfg.event.name,
                                 plus_addressing=cfg.inbox.plus_addressing, nonce=new_nonce,
                                 details=team_details(cfg),
                                 staff_language=cfg.process.staff_language)
        self.history = StoreHistory(store)
        self._files: tuple[bytes, Carried] | None = None  # the last mail's (evidence)
        self.settings = Settings(
            secret=secret, inbox=cfg.inbox.address, max_bytes=cfg.inbox.max_message_bytes,
            plus_addressing=cfg.inbox.plus_addressing,
            trusted_authserv_ids=cfg.security.trusted_authserv_ids,
            authres_via=cfg.security.authentication_results_via)

    def env(self, history: History | None = None) -> Env:
        return env_from_config(self.cfg, self.roster, self.clock(), history or self.history)

    # ------------------------------------------------------------ processing
    def process_pending(self, progress: Callable[[int], None] | None = None) -> int:
        """Process everything pending, oldest first. An OperationalError stops the pass
        (raised): the rest waits, in order, for the caller's next try."""
        done = 0
        while True:
            ids = self.store.read(inbound_db.pending_inbound, limit=500)
            if not ids:
                return done
            for inbound_id in ids:
                self.process(inbound_id)
                done += 1
                if progress:
                    progress(done)

    def process(self, inbound_id: int) -> str:
        """Decide and commit one inbound message; returns its state afterwards.

        Raises OperationalError (the message stays pending, nothing counted) when the
        world is not ready: the database is locked, a template is broken. Any other
        failure is the message's: counted, and quarantined at the last attempt.
        """
        row = self.store.read(inbound_db.inbound, inbound_id)
        if row is None or row["state"] != "pending":
            return row["state"] if row else "missing"
        try:
            return self._process(inbound_id, row)
        except Exception as e:  # noqa: BLE001 - poison mail must never stop the daemon
            operational = self._operational(e)
            if operational is not None:
                self._left_pending(inbound_id, operational, e)
            return self._failed(inbound_id, row, e)

    def _left_pending(self, inbound_id: int, operational: OperationalError,
                      cause: Exception) -> NoReturn:
        """Nothing was written and nothing counted: raise, for the caller to try later."""
        log.warning("inbound %s not processed now, left pending (not counted): %s",
                    inbound_id, redact_addresses(str(operational)))
        if operational is cause:
            raise operational
        raise operational from cause

    def _operational(self, error: Exception) -> OperationalError | None:
        """`error` as an OperationalError when it says nothing about the message.

        A TemplateError is one when the templates are broken (`cocmail check` fails
        and names the template) or when the template that failed is the team's own:
        their override, not this report, needs the fix. A built-in template that
        chokes on this message's values is the message's failure, and counts.
        """
        if isinstance(error, TemplateError):
            try:
                self.renderer.check()
            except TemplateError as broken:
                return broken
            named = _TEMPLATE_NAME.search(str(error))
            override = self.renderer.override_dir
            if override is not None and named and (override / f"{named[1]}.txt").exists():
                return error
            return None
        return as_operational(error)

    def _failed(self, inbound_id: int, row: dict[str, Any], e: Exception) -> str:
        """Count the failure; at the last attempt quarantine the message and queue its
        staff notice, in one transaction."""
        reason = f"{type(e).__name__}: {e}"
        # An exception's text may quote what it choked on (an address, a line of
        # the body): logs get it with addresses replaced, the traceback too.
        log.warning("inbound %s failed: %s", inbound_id, redact_addresses(reason))
        if log.isEnabledFor(logging.DEBUG):
            log.debug("inbound %s: %s", inbound_id,
                      redact_addresses(traceback.format_exc()).rstrip())
        env = self.env()
        try:
            with self.store.tx() as c:
                if not inbound_db.count_failure(c, inbound_id, reason[:MAX_REASON_CHARS]):
                    return inbound_db.inbound_state(c, inbound_id) or "missing"
                decision = quarantine(inbound_id, reason, env, row.get("subject"),
                                      row.get("sender"))
                for mail in decision.mails:
                    self.enqueue(c, mail, env)
        except Exception as counting:
            operational = self._operational(counting)
            if operational is None:
                raise
            self._left_pending(inbound_id, operational, counting)
        log.warning("inbound %s quarantined: %s", inbound_id, redact_addresses(reason))
        return "quarantined"

    def _process(self, inbound_id: int, row: dict[str, Any]) -> str:
        # Read (pure, the slow part for big mail), decide and compose before the write
        # lock, on the facts as the store has them now: parsing and composing are most of
        # a message's time, and the courier process needs the write lock for a moment
        # after every mail it sends. The transaction gathers the same facts again under
        # the lock and commits the decision made ahead only when they are unchanged, or
        # decides there on the new ones: what commits was decided on the facts as they
        # are at the commit. The raw bytes of a stored message never change.
        reading = read(row["raw"] or b"", arrival_path(row["source"]), self.roster,
                       self.settings)
        history = _RecordedHistory(self.history)
        env = self.env(history)
        ahead = self._decide_ahead(inbound_id, row, reading, env)
        with self.store.tx() as c:
            # The claim: only the process whose transaction finds the message still
            # pending decides it (the daemon, `ingest`, `run --once` and `quarantine
            # release` may all be at it); the others report the state they find.
            state = inbound_db.inbound_state(c, inbound_id)
            if state != "pending":
                return state or "missing"
            facts = self._facts(c, inbound_id, row, reading, env)
            if ahead is not None and facts == ahead.facts and history.unchanged():
                decision, composed = ahead.decision, ahead.composed
            else:  # another process committed in between, or deciding ahead failed
                decision = decide(facts)
                composed = [None] * len(decision.mails)
            # Composed on the case as decided: the store still holds it as it was before
            # this mail (a "#reporter anonymous" in it already governs a DSF report's files).
            done = [made or self.compose(m, env.now, decision.case, row["raw"] or b"")
                    for m, made in zip(decision.mails, composed, strict=True)]
            self._commit(c, inbound_id, reading, decision, env, done)
        if decision.state == "quarantined":
            log.warning("inbound %s quarantined: %s", inbound_id,
                        redact_addresses(decision.error or ""))
        else:
            mid = reading.msg.message_id if reading.msg else None
            log.info("inbound %s %s: %s", inbound_id, mid or "(no Message-ID)", decision.log)
        return decision.state

    def _decide_ahead(self, inbound_id: int, row: dict[str, Any], reading: Reading,
                      env: Env) -> _Ahead | None:
        """The decision and its mail on the facts as of now, outside any transaction;
        None when that fails. Those facts may be stale (another process may even have
        processed this message), so only a failure under the lock is the message's."""
        try:
            facts = self.store.read(self._facts, inbound_id, row, reading, env)
            decision = decide(facts)
            composed = [None if self._reads_store(m)
                        else self.compose(m, env.now, raw=row["raw"] or b"")
                        for m in decision.mails]
        except Exception:  # noqa: BLE001 - decided again under the lock, where it counts
            return None
        return _Ahead(facts, decision, composed)

    def _reads_store(self, mail: OutMail) -> bool:
        """Does composing `mail` read the store? (Then it is composed in the transaction.)"""
        return carries_correspondence(mail, self.cfg.dsf.attach_correspondence)

    def _facts(self, c: Any, inbound_id: int, row: dict[str, Any], reading: Reading,
               env: Env) -> Facts:
        """What the store knows that `decide` needs, read in transaction `c`; only what
        this reading can use is looked up."""
        facts = Facts(inbound_id, reading, env, known_subject=row.get("subject"),
                      known_sender=row.get("sender"))
        msg, screening, identity = reading.msg, reading.screening, reading.identity
        if msg is None or screening is None or identity is None:
            return facts  # refused: quarantined unread
        earlier = inbound_db.earlier_copy(c, inbound_id, msg.message_id, reading.body_sha,
                                          msg.raw_sha256)
        if earlier is not None:
            return Facts(inbound_id, reading, env, duplicate_of=earlier)
        match = match_case(msg, thread_tokens=reading.thread_tokens,
                           address_tokens=reading.address_tokens,
                           index=_Index(c), tag=self.cfg.inbox.subject_tag,
                           sender_is_staff=identity.staff is not None)
        case = cases_db.load_case(c, match.case) if match.case is not None else None
        if case is None:
            if screening.bounce or screening.loop or screening.machine:
                return facts
            acks = 0
            reporter = reporter_of(msg, identity, self.roster).address
            if reporter is not None:
                acks = outbox_db.acks_since(c, reporter.email, env.now - timedelta(days=1))
            number = cases_db.next_case_number(c)
            return Facts(inbound_id, reading, env, next_number=number, acks_today=acks,
                         flood=self._new_report_counts(c, identity, number, env),
                         language=report_language(msg.text, env) if reporter else "")
        noticed = frozenset[str]()
        if screening.machine or screening.bounce:
            noticed = outbox_db.noticed_since(c, case.number, AUTO_NOTICE_SUBJECT,
                                              env.day_start())
        return Facts(inbound_id, reading, env, case=case,
                     held=self._held_entry(c, identity, case), noticed_today=noticed,
                     proposals=proposals_db.proposals(c, case.number),
                     flood=self._followup_counts(c, identity, case, env,
                                                 screening.machine or screening.bounce))

    # ----------------------------------------------- the circuit breaker's counts
    def _domain_key(self, identity: Any) -> str:
        """The sending domain as the arrivals table keeps it: a keyed hash, so the
        database holds no list of who wrote in (the summary reads it off the case)."""
        keyring = self.store.keyring
        if keyring is not None:  # under the key store's index key, not secret.key, which
            # goes with every data backup (issue 27)
            return keyring.blind("flood-domain", sender_domain(identity))
        domain = sender_domain(identity).encode()
        return hmac.new(self.secret, b"flood-domain\0" + domain, hashlib.sha256).hexdigest()[:32]

    def _new_report_counts(self, c: Any, identity: Any, number: int, env: Env) -> FloodCounts:
        if not counts(identity, number):
            return FloodCounts()
        since = env.now - env.flood.window
        return FloodCounts(domain=inbound_db.arrivals_since(c, "report",
                                                           self._domain_key(identity), since),
                           overall=inbound_db.arrivals_since(c, "report", None, since))

    def _followup_counts(self, c: Any, identity: Any, case: Any, env: Env,
                         automatic: bool) -> FloodCounts:
        if not counts(identity, case.number):
            return FloodCounts()
        return FloodCounts(case=inbound_db.arrivals_since(
            c, "followup", str(case.number), env.now - env.flood.window,
            role_on(case, identity, automatic=automatic)))

    def _held_entry(self, c: Any, identity: Any, case: Any) -> HeldEntry | None:
        """The held commands this staff reply may confirm, and whether they came in the
        mail that opened the case (a report a member entered, unproven until then)."""
        if identity.staff is None:
            return None
        for token in identity.tokens:
            if token.staff_sid != identity.staff.sid or token.case != case.number:
                continue
            row = inbound_db.held_entry(c, token.nonce, case.number)
            if row is not None:
                return HeldEntry(row["nonce"], row["commands"], row["body"] or "",
                                 opened_case=row["opened_case"])
        return None

    def _commit(self, c: Any, inbound_id: int, reading: Reading, decision: Decision,
                env: Env, composed: list[Composed]) -> None:
        """Write `decision` in transaction `c`: all of it, or (on any error) none of it."""
        msg = reading.msg
        if decision.state == "quarantined":
            inbound_db.quarantine_now(c, inbound_id, decision.error or "")
        elif decision.state == "duplicate":
            inbound_db.mark_inbound(c, inbound_id, "duplicate", at=env.now,
                                    error=decision.error, drop_raw=decision.drop_raw)
        for mail, done in zip(decision.mails, composed, strict=True):
            self.enqueue(c, mail, env, done)
        if msg is None or decision.state in ("quarantined", "duplicate"):
            return
        sender: Address | None = reading.identity.address if reading.identity else None
        case = decision.case
        actor = decision.actor or (sender.email if sender else "unknown sender")
        number = case.number if case else None
        if case is not None:
            cases_db.save_case(c, case)
            cases_db.add_message(c, case.number, "in", sender=actor,
                                 recipients=[a.email for a in msg.to + msg.cc],
                                 subject=msg.subject, date=msg.date or env.now,
                                 message_id=msg.message_id, kind=decision.kind,
                                 body=decision.note if decision.kind == "staff" and
                                 decision.note is not None else msg.full_text,
                                 inbound_id=inbound_id)
        for entry in decision.audit:
            cases_db.audit(c, number, actor, entry.action, entry.detail, msg.message_id,
                           at=env.now)
        if decision.note and case is not None:
            cases_db.audit(c, number, actor, "note", decision.note[:MAX_NOTE_CHARS],
                           msg.message_id, at=env.now)
        if decision.held is not None and case is not None:
            h = decision.held
            inbound_db.hold(c, nonce=h.nonce, case_number=case.number,
                            staff_email=h.staff_email, commands=h.commands, body=h.body,
                            inbound_id=inbound_id, at=env.now)
        if decision.confirmed and not inbound_db.use_held(c, decision.confirmed, env.now):
            raise RuntimeError(f"held commands {decision.confirmed} were used twice")
        for p in decision.proposals:
            proposals_db.add_proposal(c, p, inbound_id)
        for nonce, state, reason in decision.decided:
            if not proposals_db.decide_proposal(c, nonce, state, actor, env.now, reason):
                raise RuntimeError(f"proposal {nonce} was decided twice")
        arrival = decision.arrival
        if arrival is not None and case is not None and reading.identity is not None:
            source = (self._domain_key(reading.identity) if arrival.kind == "report"
                      else str(case.number))
            inbound_db.record_arrival(c, at=env.now, kind=arrival.kind, source=source,
                                      case_number=case.number, held=arrival.held,
                                      who=arrival.who)
        if decision.cancel_mail_to and case is not None:
            outbox_db.cancel_pending(c, case.number, decision.cancel_mail_to)
        inbound_db.mark_inbound(c, inbound_id, decision.state, at=env.now, case_number=number,
                                subject=msg.subject, sender=actor, error=decision.error)

    def compose(self, mail: OutMail, now: datetime, case: Case | None = None,
                raw: bytes = b"") -> Composed:
        """The composed mail; a DSF report with the case's correspondence when configured
        (`case`: the case as just decided, when the store does not hold it yet); a staff
        mail that `carries_files` with those of `raw`, the mail being read."""
        attachments: tuple[Attachment, ...] = ()
        if mail.carries_files and raw:
            mail, attachments = with_files(mail, self._evidence(raw))
        elif self._reads_store(mail):
            assert mail.case is not None
            mail, attachments = with_correspondence(mail, self.correspondence(mail.case, case))
        return self.composer.compose(mail, now, attachments)

    def _evidence(self, raw: bytes) -> Carried:
        """The files of `raw` as staff mail carries them: worked out once per mail,
        however many members get it (the ahead decision and the commit share it)."""
        if self._files is None or self._files[0] is not raw:
            limit = self.cfg.process.attachments_to_staff_mb * MB
            self._files = (raw, carry(files_in(raw), limit))
        return self._files[1]

    def correspondence(self, number: int, case: Case | None = None) -> tuple[Attachment, ...]:
        """The case's mail with the reporter, the person affected and the reported person,
        as it may leave the team (core/correspondence.py)."""
        if case is None or case.number != number:
            case = self.store.read(cases_db.load_case, number)
        if case is None:
            return ()
        return dsf_attachments(case, self.store.read(cases_db.case_correspondence, number))

    def enqueue(self, c: Any, mail: OutMail, env: Env, composed: Composed | None = None) -> int:
        """Queue `mail` (composed now, unless it was already) inside transaction `c`."""
        composed = composed or self.compose(mail, env.now)
        oid = outbox_db.enqueue(c, case_number=mail.case, kind=mail.kind, role=mail.role,
                                message_id=composed.message_id[1:-1], sender=composed.sender,
                                recipients=composed.recipients, subject=composed.subject,
                                raw=composed.raw, not_before=mail.not_before, now=env.now)
        if mail.case is not None:
            cases_db.add_message(c, mail.case, "out", sender=composed.sender,
                                 recipients=composed.recipients, subject=composed.subject,
                                 date=env.now, message_id=composed.message_id[1:-1],
                                 kind=mail.kind, body=composed.body, outbox_id=oid)
        return oid


def delivery_failed_notice(pipeline: Pipeline, c: Any, row: dict[str, Any], error: str) -> None:
    """Outbox.on_failed: queue, inside the failing transaction, the notices
    core/failed_delivery.py decides on (staff not recused from the case)."""
    env = pipeline.env()
    case = cases_db.load_case(c, row["case_number"]) if row["case_number"] else None
    failed = Undelivered(kind=row["kind"], role=row["role"], subject=row["subject"],
                         case_number=row["case_number"])
    for mail in notices(failed, error, case, env):
        pipeline.enqueue(c, mail, env)

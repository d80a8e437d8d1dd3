"""The identity guard: nothing bound for the reported person names the people around them.

Mail to the reported person (the complaint notice, the response, a reply to them) is
written from templates, but some of it is staff text: the response is the `#action`
line unless `#response` says otherwise, and `#action` is the sheet's line, where "keep
away from Lena Leaky" is the natural thing to write. One careless line would tell the
reported person who reported them, who was affected and who saw it, and nothing can
take a sent mail back. So every path that builds such a mail calls `check_mail`, and a
hit refuses the whole command block, naming the word and whose it is.

The protected people are the reporter (an anonymous one too: the team still knows the
name), the person affected and the witnesses; the words are every word of their names
(nicknames written in the name included), their addresses and the parts of them, with
the folding of the public-summary check (`public_text`: case, accents, look-alike
letters, "Mueller" for "Müller", possessives). A word that is merely close to a
protected name ("Lenna" for "Lena") is not refused but reported as a near miss, shown
in the proposal and the preview so that a second pair of eyes looks at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .case import Case, Person
from .effects import OutMail
from .public_text import inside_words, person_terms, text_words, word_forms
from .vocabulary import Party

# Context keys of a mail to the reported person that are not staff text: their own name
# (the greeting) and the configured appeal contact.
NOT_CHECKED = frozenset({"accused_name", "appeal_contact"})
# Who a protected person is, in the words of the transcript.
WHOSE = {Party.REPORTER: "the reporter", Party.VICTIM: "the person affected",
         Party.WITNESS: "a witness"}
# A near miss: a word this close (edits) to a protected name word of at least
# NEAR_MIN_CHARS letters.
NEAR_MIN_CHARS = 4


@dataclass(frozen=True)
class Hit:
    """A word of the text that names or addresses a protected person."""

    word: str  # as written in the text
    whose: str  # "the person affected", ...

    def __str__(self) -> str:
        return f"{self.word} ({self.whose})"


@dataclass(frozen=True)
class NearMiss:
    """A word close to a protected name: worth a second look, not a refusal."""

    word: str
    like: str  # the protected word it resembles, as written in the case
    whose: str

    def __str__(self) -> str:
        if self.like == self.word:
            return f'"{self.word}" ({self.whose})'
        return f'"{self.word}" looks like "{self.like}" ({self.whose})'


@dataclass(frozen=True)
class Verdict:
    hits: tuple[Hit, ...] = ()
    near: tuple[NearMiss, ...] = ()


def protected(case: Case) -> list[tuple[Person, str]]:
    """The people the reported person must not learn of, with whose they are."""
    out: list[tuple[Person, str]] = []
    if case.reporter is not None:
        out.append((case.reporter, WHOSE[Party.REPORTER]))
    if case.victim is not None and not case.victim_is_reporter:
        out.append((case.victim, WHOSE[Party.VICTIM]))
    elif case.reporter is not None:
        out[0] = (case.reporter, "the reporter, the person affected")
    out.extend((w, WHOSE[Party.WITNESS]) for w in case.witnesses)
    return out


# Name particles ("Maria de la Cruz", "Ludwig van Beethoven"): alone they name no one,
# and "la" or "van" in a response must not refuse it.
PARTICLES = frozenset({"de", "del", "della", "la", "le", "van", "von", "der", "den", "da",
                       "di", "du", "dos", "das", "ter", "ten", "zu", "af", "av"})


def _terms(case: Case) -> dict[str, tuple[str, str]]:
    """folded term -> (the word as written in the case, whose it is)."""
    terms: dict[str, tuple[str, str]] = {}
    for person, whose in protected(case):
        for term, word in person_terms(person.name, person.email).items():
            if term not in PARTICLES:
                terms.setdefault(term, (word, whose))
    return terms


def check_text(text: str, case: Case) -> Verdict:
    """The protected names and addresses in `text`, and the words close to one."""
    terms = _terms(case)
    written = _written_names(case)
    hits: list[Hit] = []
    near: list[NearMiss] = []
    for word in text_words(text):
        forms = word_forms(word)
        match = next((terms[f] for f in forms if f in terms), None)
        if match is not None:
            hit = Hit(word, match[1])
            if hit not in hits:
                hits.append(hit)
            continue
        close = _close(forms, terms)
        if close is None and word[:1].isupper() and any(f in written for f in forms):
            close = (word, WRITTEN)
        if close is not None and all(n.word != word for n in near):
            near.append(NearMiss(word, *close))
    for word in inside_words(text, {t: w for t, (w, _) in terms.items()}):
        hit = Hit(word, next(whose for w, whose in terms.values() if w == word))
        if all(h.word != word for h in hits):
            hits.append(hit)
    return Verdict(tuple(hits), tuple(near))


# A name the report writes of someone on the case as nobody yet ("my friend Mara saw
# it"): not refused (it may be a place, a talk, a day), shown for a second look.
WRITTEN = ("a name the report writes: is it someone the reported person must not "
           "learn of?")
_CAPITALISED = re.compile(r"(?<![\w'’-])[^\W\d_][\w'’-]{2,}")
# Days and months, and words with more capitals (DjangoCon, PSF), are not people.
_CALENDAR = frozenset("""monday tuesday wednesday thursday friday saturday sunday january
february march april may june july august september october november december""".split())
_SENTENCE_END = ".!?:;\"“”«»()[]*>-•\n"


def _written_names(case: Case) -> set[str]:
    """The folded words the report writes with a capital inside a sentence ("my friend
    Mara"), never in lower case, that name nobody on the case as the reported person."""
    text = case.report_text
    if not text:
        return set()
    lower: set[str] = set()
    names: set[str] = set()
    for m in _CAPITALISED.finditer(text):
        word = m.group(0)
        forms = word_forms(word)
        if word.islower():
            lower |= forms
            continue
        before = text[:m.start()].rstrip(" \t")
        if (word[0].isupper() and word[1:].islower() and before
                and before[-1] not in _SENTENCE_END and word.lower() not in _CALENDAR):
            names |= forms
    accused: set[str] = set()
    for p in case.accused:
        accused |= set(person_terms(p.name, p.email))
    return names - lower - accused


def check_mail(mail: OutMail, case: Case) -> Verdict:
    """`check_text` over every piece of staff text a mail to the reported person carries."""
    texts = [v for k, v in sorted(mail.context.variables().items())
             if isinstance(v, str) and k not in NOT_CHECKED]
    return check_text("\n".join(texts), case)


def guard_mails(case: Case, mails: list[OutMail] | tuple[OutMail, ...]
                ) -> tuple[str | None, list[str]]:
    """The identity guard on the mails to the reported person (role "a") among `mails`:
    (the transcript's reason to refuse the block, or None; the near misses). Every path
    that mails the reported person calls it through workflow._guard."""
    near: list[str] = []
    for m in mails:
        if m.role != "a":
            continue
        verdict = check_mail(m, case)
        if verdict.hits:
            if m.kind != "harasser_response":
                return f"{refusal(verdict, 'this mail')}; take the names out of it", near
            fix = ("change it with #response <text>" if case.response
                   else "write what the reported person should read with #response <text> "
                   "(the #action stays on the sheet)")
            return f"{refusal(verdict, 'the response')}; {fix}", near
        near += [n for n in near_notes(verdict) if n not in near]
    return None, near


def near_note(near: list[str]) -> str:
    """The near misses as the end of a transcript line."""
    return ("; check before it goes: " + "; ".join(near)) if near else ""


def dsf_names_anonymous(case: Case, narrative: str) -> str | None:
    """Why the DSF report may not go: it names the anonymous reporter (in what happened,
    the summary, when, where, the decision or the reported person's side); else None."""
    texts = (narrative, case.summary, case.when, case.where, case.action, case.accused_side)
    named = anonymous_words("\n".join(t for t in texts if t), case)
    if not named:
        return None
    return ("the reporter is anonymous, but the DSF report names them: "
            + ", ".join(f"'{word}'" for word in named)
            + ". Write it without their name or address")


def anonymous_words(text: str, case: Case) -> list[str]:
    """The words of `text` that name or address the reporter when they are anonymous
    (for what leaves the team: the DSF report)."""
    if not case.reporter_anonymous or case.reporter is None:
        return []
    terms = person_terms(case.reporter.name, case.reporter.email)
    found: list[str] = []
    for word in text_words(text):
        if any(f in terms for f in word_forms(word)) and word not in found:
            found.append(word)
    return found + [w for w in inside_words(text, terms) if w not in found]


def refusal(verdict: Verdict, what: str) -> str:
    """The transcript's reason when `what` ("the response") names someone."""
    by_whose: dict[str, list[str]] = {}
    for h in verdict.hits:
        by_whose.setdefault(h.whose, []).append(h.word)
    named = ", ".join(f"{_and(words)} ({whose})" for whose, words in by_whose.items())
    return (f"{what} names {named}: the reported person must never learn who reported, "
            "was affected or saw it. Nothing was sent")


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def near_notes(verdict: Verdict) -> list[str]:
    return [str(n) for n in verdict.near]


def _close(forms: set[str], terms: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    """The protected word one of `forms` is one edit (two, for long names) away from."""
    for form in sorted(forms):
        if len(form) < NEAR_MIN_CHARS - 1 or "@" in form:
            continue
        for term, (word, whose) in terms.items():
            if len(term) < NEAR_MIN_CHARS or "@" in term or not term.isalpha():
                continue
            limit = 2 if len(term) >= 8 else 1
            if abs(len(term) - len(form)) <= limit and _edits(form, term, limit) <= limit:
                return word, whose
    return None


def _edits(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance of `a` and `b` (swaps count as one), stopping
    early once it exceeds `limit`."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]

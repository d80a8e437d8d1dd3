"""`#language [accused|victim] <code>`: the language of mail to a party (issue 26).

Pure. The reporter's language is detected from the report (core/languages.py); staff
correct it, or give the person affected's or the reported person's, whom cocmail has
no text of. The next mail to that person is in that language; staff mail is not.
"""

from __future__ import annotations

from ..languages import SHIPPED_LANGUAGES, language_name
from ..vocabulary import Party
from ..workflow import Refused
from .values import Command
from .work import MailCommand, Value, _set, _Work

# The word staff type before the code -> the Case attribute and the transcript's words.
_PARTIES = {"reporter": ("language", "the reporter"),
            "victim": ("victim_language", "the person affected"),
            "accused": ("accused_language", "the reported person")}


def do_language(w: _Work, cmd: Command) -> str:
    words = cmd.value.lower().split()
    party = words[0] if len(words) == 2 and words[0] in _PARTIES else Party.REPORTER.value
    code = words[-1] if words else ""
    if len(words) not in (1, 2) or (len(words) == 2 and words[0] not in _PARTIES):
        raise Refused("#language needs a language code, for the reporter (#language pt) "
                      "or for a party (#language accused es)")
    if code not in SHIPPED_LANGUAGES:
        raise Refused(f"cocmail has no mail in {code!r}; it writes in "
                      + ", ".join(SHIPPED_LANGUAGES))
    attr, who = _PARTIES[party]
    _set(w, **{attr: code})
    return f"mail to {who} on this case is now in {language_name(code)} ({code})"


COMMANDS = (
    MailCommand(name="language", syntax="#language [accused|victim] <code>",
                help="the language of mail to the reporter (or that party), e.g. pt",
                handler=do_language, place=275, value=Value.TEXT),
)

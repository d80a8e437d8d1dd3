"""The team's own details that its mails carry: its Code of Conduct link, its emergency
phone, local support resources, and the committee it reports to (issue 25, item 8).

A team should not have to replace whole templates to put its phone number into the
acknowledgement, or to report to a PSF or PyCon committee instead of the DSF's. The
config gives these values (`[event] coc_url`, `emergency_phone`, `support`, `[dsf] name`);
every template gets them, and a template leaves out what a team did not set.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_COMMITTEE = "the DSF Code of Conduct committee"


@dataclass(frozen=True)
class TeamDetails:
    coc_url: str = ""
    emergency_phone: str = ""
    support: str = ""  # local support resources, shown to the person affected
    committee: str = DEFAULT_COMMITTEE  # as a sentence names it: "the PSF Conduct WG"

    def context(self) -> dict[str, str]:
        """The template variables: every mail may name them, none must."""
        return {"coc_url": self.coc_url, "emergency_phone": self.emergency_phone,
                "support": self.support, "committee": self.committee}

    def committee_address_name(self) -> str:
        """The committee as the display name of the DSF report's To: without a leading
        "the" ("DSF Code of Conduct committee"), as an address book shows it."""
        name = " ".join(self.committee.split())
        return name[4:] if name[:4].lower() == "the " else name

"""Each mail kind's context class names exactly what its template reads.

A template that reads a value no context class carries would fail at delivery time
("missing variable"); a field no template reads is a value builders compute for nothing.
Both fail here instead, for the project's templates.
"""

from __future__ import annotations

from dataclasses import fields

import pytest
from jinja2 import meta

from cocmail.core.compose import Composer
from cocmail.core.effects import OutMail, mail_from_json, mail_to_json
from cocmail.core.mail_contexts import (
    COMPOSED_FROM,
    CONTEXTS,
    AccusedComplaintContext,
    HarasserResponseContext,
)
from cocmail.core.model import Address
from cocmail.core.vocabulary import MailKind
from cocmail.render import Renderer


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def _template_variables(renderer: Renderer, kind: MailKind) -> set[str]:
    source, _, _ = renderer.env.loader.get_source(renderer.env, f"{kind}.txt")  # type: ignore[union-attr]
    return set(meta.find_undeclared_variables(renderer.env.parse(source))) - set(
        renderer.env.globals)


def _common(renderer: Renderer) -> set[str]:
    """What compose gives every mail besides its context (event, case tag, team details)."""
    composer = Composer(secret=b"k" * 32, renderer=renderer, inbox="conduct@example.org",
                        tag="CoC", event="PyConf", plus_addressing=False, nonce=lambda: "n")
    return set(composer.common(1))


def test_every_mail_kind_has_a_context_class() -> None:
    assert set(CONTEXTS) == set(MailKind)
    assert all(cls.KIND == kind for kind, cls in CONTEXTS.items())


@pytest.mark.parametrize("kind", list(MailKind))
def test_a_context_carries_exactly_what_its_template_reads(renderer: Renderer,
                                                           kind: MailKind) -> None:
    composed = COMPOSED_FROM.get(kind, {})
    given = set()
    for f in fields(CONTEXTS[kind]):
        given |= composed.get(f.name, {f.name})
    read = _template_variables(renderer, kind) - _common(renderer)
    assert read - given == set(), f"{kind}.txt reads values its context does not carry"
    assert given - read == set(), f"{kind}'s context carries values {kind}.txt never reads"


def test_a_context_names_no_value_every_mail_already_gets(renderer: Renderer) -> None:
    # Compose passes both to the template: a clash would be a TypeError at send time.
    common = _common(renderer)
    assert [(kind, f.name) for kind, cls in CONTEXTS.items() for f in fields(cls)
            if f.name in common] == []


def test_a_mail_is_of_its_context_s_kind() -> None:
    mail = OutMail(to=Address("Dan", "dan@x.org"), role="a", case=5,
                   context=AccusedComplaintContext(accused_name="Dan"))
    assert mail.kind == MailKind.ACCUSED_COMPLAINT and mail.auto_submitted == "auto-generated"


def test_a_stored_mail_reads_back_the_same_and_an_old_extra_value_is_ignored() -> None:
    mail = OutMail(to=Address("Dan", "dan@x.org"), role="a", case=5, references=("r@x",),
                   context=HarasserResponseContext(accused_name="Dan", action="a warning",
                                                   appeal_contact="appeals@example.org"))
    stored = mail_to_json(mail)
    assert mail_from_json(stored) == mail
    older = {**stored, "context": {**stored["context"], "dropped_since": "x"}}
    assert mail_from_json(older) == mail

"""The design documents are part of the tree: what the README links exists, and the code
points a newcomer to them, not to files only the original authors had.

A docstring that says "see process.md" is worth something only if `process.md` is there
to read. These tests read the files (no cocmail import), so they hold whatever the
package looks like."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PACKAGE = ROOT / "cocmail"

# The design documents issue 24 asks for; the README's "How it is built" points to each.
DESIGN_DOCS = ("process.md", "mail.md", "architecture.md", "interface.md")
# Markdown link targets and bare mentions of docs/<name>.md, e.g. [x](docs/mail.md#y).
_DOCS_REFERENCE = re.compile(r"(?<![\w/.-])docs/([\w./-]+?\.md)\b")
_LINK_TARGET = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# A design document named without the docs/ directory: "(process.md, Retention)",
# "interface.md" or "../shared/spec/mail.md": a file outside the repository.
_BARE_SPEC = re.compile(r"(?<![\w./-])(?:(?!docs/)[\w.-]+/)*"
                        r"(process|mail|interface|architecture)\.md\b")


def _docs_the_readme_names() -> set[str]:
    return set(_DOCS_REFERENCE.findall(README.read_text(encoding="utf-8")))


def test_readme_points_to_every_design_document() -> None:
    named = _docs_the_readme_names()
    missing = [name for name in DESIGN_DOCS if name not in named]
    assert missing == [], f"README.md never links docs/{', docs/'.join(missing)}"


@pytest.mark.parametrize("name", sorted(_docs_the_readme_names()))
def test_every_document_the_readme_links_exists(name: str) -> None:
    path = DOCS / name
    assert path.is_file(), f"README.md links docs/{name}, which is not in the repository"
    assert path.read_text(encoding="utf-8").strip(), f"docs/{name} is empty"


@pytest.mark.parametrize("path", sorted(DOCS.glob("*.md")) + [ROOT / "bench" / "README.md"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_in_the_design_documents_resolve(path: Path) -> None:
    """A link from one document to another (or to a source file) leads somewhere."""
    broken = []
    for target in _LINK_TARGET.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        if not (path.parent / target).exists():
            broken.append(target)
    assert broken == [], f"{path.relative_to(ROOT)}: links to missing {broken}"


def _bare_citations() -> list[str]:
    """file:line of every comment or docstring in cocmail/ that names a design document
    without its docs/ directory."""
    hits = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _BARE_SPEC.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return hits


def test_the_citation_pattern_tells_docs_from_elsewhere() -> None:
    """The check below must see a bare or outside citation and accept a docs/ one, or it
    could never fail."""
    assert _BARE_SPEC.search("(process.md, Retention)")
    assert _BARE_SPEC.search("see ../shared/spec/mail.md")
    assert _BARE_SPEC.search("a contract (interface.md)")
    assert not _BARE_SPEC.search("docs/process.md explains what each one means")
    assert not _BARE_SPEC.search("(docs/architecture.md, Delivery)")
    assert not _BARE_SPEC.search("the e-mail.md file")


def test_no_docstring_cites_a_document_outside_the_repository() -> None:
    hits = _bare_citations()
    assert hits == [], "cite docs/<name>.md instead:\n" + "\n".join(hits)

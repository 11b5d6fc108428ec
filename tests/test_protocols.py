"""The protocol registry: one entry per difference from the authors' code, each read by the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from lgclip_core import protocols, zoo
from lgclip_core.errors import UnknownNameError

PACKAGE = Path(protocols.__file__).resolve().parent


def test_keys_are_unique_and_name_their_paper():
    keys = [c.key for c in protocols.CHOICES]
    assert len(keys) == len(set(keys))
    assert {c.paper for c in protocols.CHOICES} == set(protocols.PAPERS)


@pytest.mark.parametrize("choice", protocols.CHOICES, ids=lambda c: c.key)
def test_every_choice_is_documented(choice):
    for text in (choice.title, choice.authors_do, choice.we_do, choice.why, choice.where):
        assert isinstance(text, str) and len(text.strip()) > 3
    assert "/" in choice.where, "where: name the repository (owner/name) and the file"


@pytest.mark.parametrize("choice", [c for c in protocols.CHOICES if c.differs], ids=lambda c: c.key)
def test_every_differing_choice_is_read_by_the_code(choice):
    """A registered difference that no module reads would be documentation of nothing."""
    readers = [p for p in PACKAGE.rglob("*.py") if p.name != "protocols.py" and f'"{choice.key}"' in p.read_text()]
    assert readers, f"no module of lgclip_core reads {choice.key!r}"


def test_protocols_differ_exactly_where_the_registry_says():
    authors = protocols.Protocol("authors")
    clean = protocols.Protocol("clean")
    differing = {k for k in authors if authors[k] != clean[k]}
    assert differing == {c.key for c in protocols.CHOICES if c.differs}
    assert {r["key"] for r in protocols.table() if r["status"] == "protocol choice"} == differing


def test_active_lists_every_choice_of_the_paper():
    active = protocols.resolve("authors", "lgclip").active()
    assert active["name"] == "authors"
    assert set(active["choices"]) == {c.key for c in protocols.choices("lgclip")}


def test_every_zoo_profile_has_a_default_protocol():
    for profile in zoo.PROFILES:
        assert protocols.default_protocol(profile) in protocols.PROTOCOLS
    assert protocols.default_protocol("paper") == "authors"


def test_unknown_names_list_the_registered_ones():
    with pytest.raises(UnknownNameError, match="authors, clean"):
        protocols.Protocol("author")
    with pytest.raises(UnknownNameError, match="lgclip.scoring"):
        protocols.Protocol("clean", "lgclip")["lgclip.scorin"]
    with pytest.raises(UnknownNameError):
        protocols.choices("lgclipp")


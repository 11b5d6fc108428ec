"""Installable, citable: CITATION.cff is valid CFF 1.2.0 and agrees with pyproject.toml; LICENSE; the bug form."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lgclip_core.protocols import PROTOCOLS
from lgclip_core.zoo import PROFILES

ROOT = Path(__file__).resolve().parent.parent
# CFF 1.2.0 JSON schema, CC-BY-4.0, from the citation-file-format project (as shipped in cffconvert 2.0.0's wheel).
SCHEMA = Path(__file__).resolve().parent / "data" / "cff-schema-1.2.0.json"


def _dates_as_strings(value: Any) -> Any:
    """YAML dates as ISO strings: the schema's note asks validators to cast YAML 'date' objects to strings."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _dates_as_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as_strings(v) for v in value]
    return value


@pytest.fixture(scope="module")
def citation() -> dict[str, Any]:
    return _dates_as_strings(yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_citation_is_valid_cff_1_2_0(citation):
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    assert citation["cff-version"] == "1.2.0"
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in validator.iter_errors(citation)]
    assert not errors, "\n".join(errors)


def test_citation_lists_both_papers(citation):
    titles = {ref["title"] for ref in citation["references"]}
    assert titles == {"Can Synthetic Images Serve as Effective and Efficient Class Prototypes?",
                      "Text to Image for Multi-Label Image Recognition with Joint Prompt-Adapter Learning"}
    assert all(ref["type"] == "article" and ref["authors"] for ref in citation["references"])


def test_citation_agrees_with_pyproject(citation, project):
    assert citation["version"] == project["version"]
    assert citation["license"] == project["license"]["text"]


def test_license_is_mit(project):
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 The lgclip_core authors" in text
    assert project["license"]["text"] == "MIT"


def test_bug_report_form_asks_what_we_need():
    templates = ROOT / ".github" / "ISSUE_TEMPLATE"
    assert yaml.safe_load((templates / "config.yml").read_text(encoding="utf-8"))["blank_issues_enabled"] is True
    form = yaml.safe_load((templates / "bug_report.yml").read_text(encoding="utf-8"))
    assert form["name"] and form["description"]
    fields = {item["id"]: item for item in form["body"] if item["type"] != "markdown"}
    assert {"where", "device", "gpu", "profile", "protocol", "command", "error", "assets", "version"} <= set(fields)
    assert fields["where"]["type"] == "dropdown"
    assert fields["where"]["attributes"]["options"] == ["Colab", "local", "other"]
    assert fields["device"]["attributes"]["options"] == ["CPU", "GPU"]
    assert set(fields["profile"]["attributes"]["options"]) == set(PROFILES)
    assert set(fields["protocol"]["attributes"]["options"]) == set(PROTOCOLS)
    assert fields["assets"]["type"] == "textarea"
    assert fields["assets"]["attributes"]["render"] == "shell"
    assert "lgclip assets" in fields["assets"]["attributes"]["label"]
    assert "pip show lgclip_core" in fields["version"]["attributes"]["description"]
    for item in form["body"]:
        assert item["type"] in {"markdown", "input", "textarea", "dropdown", "checkboxes"}
        assert item["type"] == "markdown" or item["attributes"]["label"]

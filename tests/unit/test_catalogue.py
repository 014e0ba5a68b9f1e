"""The obligation catalogue: its schema, its traceability to the corpus, and selection by facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.report import SECTIONS
from agents.standard.gate import in_language
from tools.catalogue import (
    TOPICS,
    CatalogueError,
    corpus_passages,
    load_catalogue,
    load_catalogue_dir,
    select_obligations,
)
from tools.catalogue.schema import CATALOGUE_DIR
from tools.catalogue.schema import SECTIONS as CATALOGUE_SECTIONS
from tools.catalogue.vocabulary import all_tags

INSTRUMENTS = {
    "eu-ai-act",
    "gdpr",
    "cn-genai-measures",
    "cn-pipl",
    "nist-ai-rmf",
    "iso-iec-42001",
    "oecd-ai-principles",
}


def test_every_bundled_instrument_has_a_catalogue_that_states_its_text_and_date() -> None:
    catalogue = load_catalogue()
    assert set(catalogue.instruments) == INSTRUMENTS
    for instrument in catalogue.instruments.values():
        assert instrument.reflects and instrument.reflects_zh and instrument.aliases
        assert any(ch.isdigit() for ch in instrument.reflects), f"{instrument.id}: no date in 'reflects'"
        assert instrument.url and instrument.title


def test_every_obligation_rests_on_a_corpus_passage_in_both_languages() -> None:
    corpus = corpus_passages()
    for o in load_catalogue().obligations:
        assert o.passage in corpus, o.id
        assert o.passage.split(":")[0] == o.instrument
        assert in_language(o.shall_en, "en") and in_language(o.shall_zh, "zh"), o.id
        assert "shall" in o.shall_en, o.id
        assert "应当" in o.shall_zh or "不得" in o.shall_zh, o.id
        assert o.section in CATALOGUE_SECTIONS and set(o.topics) <= set(TOPICS)
        assert o.when.tags() <= all_tags()


def test_the_articles_the_issue_names_are_covered() -> None:
    passages = {o.passage for o in load_catalogue().obligations}
    for article in (
        "art-4",
        "art-5",
        "art-6-annex-iii",
        "art-9",
        "art-10",
        "art-11-annex-iv",
        "art-12",
        "art-13",
        "art-14",
        "art-15",
        "art-16-17",
        "art-26",
        "art-27",
        "art-43-49",
        "art-50",
        "art-51-55",
        "art-72",
        "art-73",
        "art-86",
    ):
        assert f"eu-ai-act:{article}" in passages
    for article in ("art-5", "art-6", "art-9", "art-13-15", "art-22", "art-25", "art-32", "art-35"):
        assert f"gdpr:{article}" in passages
    for note in ("cn-genai-measures", "cn-pipl", "nist-ai-rmf", "iso-iec-42001", "oecd-ai-principles"):
        assert any(p.startswith(note + ":") for p in passages)


def test_every_report_section_is_reachable() -> None:
    assert set(CATALOGUE_SECTIONS) == set(SECTIONS) - {"open_questions", "references"}
    reached = {o.section for o in load_catalogue().obligations}
    assert reached == set(CATALOGUE_SECTIONS)


def test_a_strict_entry_only_comes_with_its_topic_and_replaces_what_it_tightens() -> None:
    facts = {"jurisdictions": ["eu"], "roles": ["deployer"], "data": ["personal"]}
    base = {o.id for o in select_obligations(load_catalogue(), facts)}
    strict = {o.id for o in select_obligations(load_catalogue(), facts, ["data"])}
    assert "gdpr.art-35.dpia-always" in strict and "gdpr.art-35.dpia-always" not in base
    tightened = load_catalogue().by_id()["gdpr.art-35.dpia-always"].tightens
    assert tightened in base and tightened not in strict


def test_an_unknown_role_gets_both_sides_duties() -> None:
    facts = {"jurisdictions": ["eu"], "use_categories": ["annex3:employment"], "data": ["personal"]}
    chosen = {o.passage for o in select_obligations(load_catalogue(), {**facts, "roles": []})}
    assert {"eu-ai-act:art-26", "eu-ai-act:art-16-17"} <= chosen
    deployer = {o.passage for o in select_obligations(load_catalogue(), {**facts, "roles": ["deployer"]})}
    assert "eu-ai-act:art-26" in deployer and "eu-ai-act:art-16-17" not in deployer


def _write(folder: Path, body: str) -> None:
    (folder / "eu-ai-act.toml").write_text(
        '[instrument]\nid = "eu-ai-act"\nname = "EU AI Act"\nname_zh = "x"\naliases = ["AI Act"]\n'
        'binding = "law"\nreflects = "2024"\nreflects_zh = "2024"\n\n' + body,
        encoding="utf-8",
    )


ENTRY = (
    '[[obligation]]\nid = "eu-ai-act.art-14.x"\narticle = "Art. 14"\npassage = "{passage}"\nroles = []\n'
    'section = "{section}"\nwhen = {when}\nlevel = "baseline"\nshall_en = "The provider shall x."\n'
    'shall_zh = "提供者应当x。"\n'
)


@pytest.mark.parametrize(
    ("passage", "section", "when", "message"),
    [
        ("eu-ai-act:art-999", "oversight", '{ all = ["eu"] }', "not in the corpus"),
        ("eu-ai-act:art-14", "nowhere", '{ all = ["eu"] }', "section 'nowhere'"),
        ("eu-ai-act:art-14", "oversight", '{ all = ["eu", "martian"] }', "unknown tag"),
        ("eu-ai-act:art-14", "oversight", '{ none = ["eu"] }', "at least one"),
        ("gdpr:art-22", "oversight", '{ all = ["eu"] }', "not a section of eu-ai-act"),
    ],
)
def test_a_broken_entry_is_one_clear_error(
    tmp_path: Path, passage: str, section: str, when: str, message: str
):
    _write(tmp_path, ENTRY.format(passage=passage, section=section, when=when))
    with pytest.raises(CatalogueError, match=message):
        load_catalogue_dir(tmp_path)


def test_the_bundled_catalogue_loads_from_its_folder() -> None:
    assert len(load_catalogue_dir(CATALOGUE_DIR).obligations) == len(load_catalogue().obligations) >= 150

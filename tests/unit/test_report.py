"""The report's honesty checks: citations, unverified references, sections, references."""

from __future__ import annotations

import re

from agents.report import (
    SECTIONS,
    build_report,
    check_citations,
    flag_unverified,
    labels,
    sourced_statement,
    split_synthesis,
)

P14 = {
    "source_id": "eu-ai-act:art-14",
    "title": "EU Artificial Intelligence Act (Regulation (EU) 2024/1689)",
    "locator": "Art. 14",
    "text": "Key terms: human oversight, 人工监督\nHigh-risk AI systems must allow effective oversight by "
    "natural persons during use. Under Art. 14(4) overseers can override the output.\n"
    "摘要：高风险系统须可由人监督。",
    "origin": "corpus",
    "url": "https://eur-lex.europa.eu/eli/reg/2024/1689/oj",
}
P22 = {
    "source_id": "gdpr:art-22",
    "title": "General Data Protection Regulation",
    "locator": "Art. 22",
    "text": "People may not be subject to decisions based solely on automated processing with legal effects.",
    "origin": "corpus",
}
WEB = {
    "source_id": "web:1a2b3c",
    "title": "A news article",
    "locator": "",
    "text": "Hospitals use triage chatbots.",
    "origin": "web",
    "url": "https://example.org/a",
}


def test_citations_of_retrieved_ids_are_kept_and_others_flagged() -> None:
    out = check_citations(
        "Oversight [eu-ai-act:art-14]. Fines [eu-ai-act:art-99; gdpr:art-22].",
        ["eu-ai-act:art-14", "gdpr:art-22"],
        "X",
    )
    assert out.cited == ["eu-ai-act:art-14", "gdpr:art-22"]
    assert out.unknown == ["eu-ai-act:art-99"]
    assert "[eu-ai-act:art-99 ⚠ X; gdpr:art-22]" in out.text


def test_brackets_that_are_not_ids_are_left_alone() -> None:
    out = check_citations("See [the annex] and [1] and [EU-AI-Tech-Synthesis].", ["a:b"], "X")
    assert out.text == "See [the annex] and [1] and [EU-AI-Tech-Synthesis]." and not out.unknown


def test_invented_instruments_and_articles_are_flagged() -> None:
    text = "Follow the Data Protection Act (DOMA), Art. 22 and Article 99, and ISO 27001; EU and AI are fine."
    out = flag_unverified(text, [P14, P22], "unverified")
    assert set(out.unverified) == {"Data Protection Act", "DOMA", "Article 99", "ISO 27001"}
    assert "Art. 22 and" in out.text  # supported by gdpr:art-22's locator
    assert "Article 99 (⚠ unverified)" in out.text


def test_an_article_number_is_not_supported_by_a_longer_one() -> None:
    out = flag_unverified(
        "Art. 5 applies.", [{"source_id": "x:y", "text": "Art. 50 says", "title": "", "locator": ""}], "u"
    )
    assert out.unverified == ["Art. 5"]


def test_statements_do_not_break_after_article_abbreviations() -> None:
    statement = sourced_statement(P14, "en")
    assert statement.startswith("High-risk AI systems must allow")
    assert "Art. 14(4) overseers" in statement
    assert "Key terms" not in statement


def test_chinese_report_uses_the_note_summary() -> None:
    assert sourced_statement(P14, "zh") == "高风险系统须可由人监督。"
    assert sourced_statement(P22, "zh").startswith("People may not")  # no summary: the English text


def test_synthesis_is_split_on_headings_in_either_language() -> None:
    text = (
        "Intro line\n## 3. Technical controls\nEncrypt data.\n**人工监督**\n人工复核。\n## References\n- junk"
    )
    preamble, parts = split_synthesis(text)
    assert preamble == "Intro line"
    assert parts == {"technical": "Encrypt data.", "oversight": "人工复核。"}


def build(**kw):
    args = dict(
        task="Policy for a triage chatbot",
        language="en",
        model="hf/embedded",
        mode="workflow",
        passages=[P14, P22, WEB],
        synthesis="## 5. Human oversight\nA clinician reviews every triage [gdpr:art-22] per the Triage Act.",
        opinions=[{"persona": "scientist", "question": "q", "answer": "Log all [made:up].", "model": "m"}],
        persona_titles={"scientist": "Computer scientist"},
        warnings=["web search failed: timeout"],
    )
    args.update(kw)
    return build_report(**args)


def test_report_has_every_section_in_order_and_names_its_model() -> None:
    report = build()
    names = labels("en")["sections"]
    positions = [report.markdown.index(f". {names[key]}") for key in SECTIONS]
    assert positions == sorted(positions)
    assert "`hf/embedded`" in report.markdown and "workflow mode" in report.markdown


def test_every_cited_id_is_in_the_references() -> None:
    report = build()
    refs = report.markdown.split("## 9. References")[1].split("## Appendix")[0]
    body = report.markdown.split("## 9. References")[0] + report.markdown.split("## Appendix")[1]
    cited = {m for m in re.findall(r"\[([a-z0-9-]+:[^\]\s;]+)\]", body)}
    assert cited  # the check below would pass vacuously otherwise
    for source_id in cited:
        assert f"[{source_id}]" in refs
    assert {p["source_id"] for p in report.references} == cited
    assert report.unknown_ids == ["made:up"]
    assert "Triage Act" in report.unverified
    assert "(web)" in refs and "<https://example.org/a>" in refs
    assert "web search failed: timeout" in report.markdown


def test_an_empty_synthesis_still_gives_a_sourced_report() -> None:
    report = build(synthesis="", opinions=[])
    assert "[eu-ai-act:art-14]" in report.markdown
    assert report.markdown.count(labels("en")["no_synthesis"]) == 8

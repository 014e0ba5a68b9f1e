"""The standard as Markdown: assumptions, numbered requirements, gated council prose, references."""

from __future__ import annotations

import re

from agents.report import SECTIONS, build_report, labels
from agents.standard.citations import check_citations, flag_unverified
from agents.standard.facts import derive_facts
from agents.standard.requirements import build_requirements, requirement_passages

TASK = "We are a German employer and use a vendor's AI tool to screen CVs."
P14 = {
    "source_id": "eu-ai-act:art-14",
    "title": "EU Artificial Intelligence Act (Regulation (EU) 2024/1689)",
    "locator": "Art. 14",
    "text": "High-risk AI systems must allow effective oversight by natural persons. Under Art. 14(4) "
    "overseers can override the output.",
    "origin": "corpus",
}
P22 = {
    "source_id": "gdpr:art-22",
    "title": "General Data Protection Regulation",
    "locator": "Art. 22",
    "text": "People may not be subject to decisions based solely on automated processing with legal effects.",
    "origin": "corpus",
}
DOC = {
    "source_id": "docs:hr-policy.md#c1",
    "title": "hr-policy.md",
    "locator": "hr-policy.md",
    "text": "Recruiters review every rejection before it is sent. <img src=x onerror=alert(1)>",
    "origin": "docs",
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


def test_invented_instruments_are_flagged_but_usual_names_of_known_ones_are_not() -> None:
    text = (
        "Follow the EU AI Act, the AI Act, Regulation (EU) 2024/1689, the GDPR and "
        "《生成式人工智能服务管理暂行办法》, "
        "but also the Data Protection Act (DOMA) and Article 99."
    )
    aliases = [
        "EU AI Act",
        "AI Act",
        "Regulation (EU) 2024/1689",
        "GDPR",
        "《生成式人工智能服务管理暂行办法》",
    ]
    out = flag_unverified(text, [P14, P22], "unverified", aliases=aliases)
    assert set(out.unverified) == {"Data Protection Act", "DOMA", "Article 99"}
    # Without the aliases the same names would be flagged: the check is not vacuous.
    bare = flag_unverified(text, [P14, P22], "unverified")
    assert "EU AI Act" in bare.unverified and "《生成式人工智能服务管理暂行办法》" in bare.unverified


def test_an_article_number_is_not_supported_by_a_longer_one() -> None:
    out = flag_unverified(
        "Art. 5 applies.", [{"source_id": "x:y", "text": "Art. 50 says", "title": "", "locator": ""}], "u"
    )
    assert out.unverified == ["Art. 5"]


def build(language: str = "en", task: str = TASK, **kw):
    facts = derive_facts(task, language)
    requirements = build_requirements(facts, language)
    passages = requirement_passages(requirements)
    args = dict(
        task=task,
        language=language,
        model="hf/embedded",
        mode="workflow",
        facts=facts,
        requirements=requirements,
        passages=[*passages, DOC],
        synthesis="",
        opinions=[],
        persona_titles={"scientist": "Computer scientist", "legal_expert": "Legal expert"},
    )
    args.update(kw)
    return build_report(**args), facts, requirements


def test_the_report_opens_with_the_assumptions_then_numbered_cited_requirements() -> None:
    report, _, requirements = build()
    md = report.markdown
    lab = labels("en")
    assert md.index(lab["assumptions"]) < md.index(f"1. {lab['sections']['scope']}")
    positions = [md.index(f". {lab['sections'][key]}") for key in SECTIONS]
    assert positions == sorted(positions)
    assert "| A2 | Your role(s) | deployer |" in md
    assert any(r["passage"] == "eu-ai-act:art-26" for r in requirements)
    for r in requirements:
        cite = f"*{r['instrument_name']}, {r['article']}* [{r['passage']}]"
        line = f"- **{r['number']}** {r['statement']} — {cite}"
        assert line in md
    assert "_Applies because: EU; high-risk under the EU AI Act (Annex III(4)" in md
    # Every cited id is in the references; nothing cited that is not.
    refs = md.split("## 11. References")[1]
    body = md.split("## 11. References")[0]
    cited = set(re.findall(r"\[([a-z0-9-]+:[^\]\s;]+)\]", body))
    assert cited and all(f"[{c}]" in refs for c in cited)
    assert "wrote nothing" not in md


def test_a_section_without_requirements_says_why() -> None:
    report, _, requirements = build(
        task="A model that forecasts the electricity demand of our factory in Berlin from meter readings; "
        "no personal data is involved."
    )
    sections = {r["section"] for r in requirements}
    assert "incident" not in sections
    assert "No requirement in this section applies: no serious-incident or breach-notification duty" in (
        report.markdown
    )


def test_council_prose_passes_the_gate_line_by_line() -> None:
    good = "4.1: Log each screening decision with the model version; keep the log six months [gdpr:art-22]."
    loop = "Translated by: EJAC Add a reference to the original sentence " * 4
    opinions = [
        {
            "persona": "scientist",
            "question": "q",
            "answer": f"{good}\n## 10. Extra section\n{loop}",
            "model": "m",
        },
        {
            "persona": "legal_expert",
            "question": "q",
            "answer": "Check the Data Protection Act (DOMA).",
            "model": "m",
        },
    ]
    report, _, _ = build(opinions=opinions, passages=[P14, P22])
    md = report.markdown
    body, appendix = md.split("## Appendix: expert opinions")
    assert "**Council** · Computer scientist: Log each screening decision" in body
    assert "Extra section" not in body and "EJAC" not in body and "DOMA" not in body
    assert "\\## 10. Extra section ⚠ *left out of the standard: a heading of its own*" in appendix
    assert "left out of the standard: repeats itself" in appendix
    assert "names a law or article no passage supports (DOMA, Data Protection Act)" in appendix


def test_english_prose_stays_out_of_a_chinese_standard() -> None:
    opinions = [{"persona": "scientist", "question": "q", "answer": "Log every decision.", "model": "m"}]
    report, _, _ = build(
        language="zh", task="我们是一家德国公司，使用第三方AI工具筛选简历", opinions=opinions
    )
    body = report.markdown.split("## 附录")[0]
    assert "部署者应当" in body and "Log every decision" not in body
    assert "未纳入标准: 未使用任务的语言" in report.markdown
    # References name their sources in Chinese too.
    assert "[eu-ai-act:art-26] 欧盟《人工智能法》 — 高风险人工智能系统部署者的义务" in report.markdown


def test_user_documents_show_under_their_section_and_stay_text() -> None:
    report, _, _ = build(section_documents={"oversight": [DOC]})
    md = report.markdown
    oversight = md.split("## 7. Human oversight")[1].split("## 8.")[0]
    assert "**From your documents:**" in oversight and "[docs:hr-policy.md#c1]" in oversight
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md


def test_a_follow_up_report_lists_its_changes() -> None:
    change = {
        "kind": "added",
        "id": "gdpr.art-35.dpia-always",
        "number": "2.3",
        "statement": "x",
        "reason": "r",
    }
    report, _, _ = build(changes=[change])
    assert "## 10. Changes from the previous version" in report.markdown
    assert "- **Added** 2.3 (`gdpr.art-35.dpia-always`) — r" in report.markdown
    first, _, _ = build()
    assert "Changes from the previous version" not in first.markdown


def test_a_chinese_standard_names_articles_in_chinese() -> None:
    from agents.standard.requirements import article_label

    assert article_label("Art. 6(1)-(2) and Annex III; Art. 26(1)", "zh") == "第6(1)-(2)条及附件三；第26(1)条"
    assert article_label("Recitals 38 and 71; Art. 22", "zh") == "序言第38、71段；第22条"
    assert article_label("Clause 6.1.4; Annex A.5", "zh") == "第6.1.4条；附录A.5"
    assert article_label("第二十四条 Art. 24", "zh") == "第二十四条 Art. 24"  # already Chinese
    assert article_label("Art. 26(1)", "en") == "Art. 26(1)"


def test_documents_and_model_prose_cannot_add_links_images_html_or_headings() -> None:
    facts = derive_facts("A customer chatbot for an EU bank", "en")
    requirements = build_requirements(facts, "en", [])
    hostile = (
        "# Heading [click](http://evil.example) ![x](http://evil.example/i.png) <img src=x onerror=alert(1)>"
    )
    document = {
        "source_id": "docs:evil.md#0",
        "title": "Evil [t](http://evil.example)",
        "locator": "p1",
        "text": hostile,
        "origin": "docs",
        "url": None,
        "score": 1.0,
    }
    number = requirements[0]["number"]
    line = f"{number}: Tell customers [more](http://evil.example) <b>now</b> per [docs:evil.md#0]."
    report = build_report(
        task="A customer chatbot for an EU bank [x](http://evil.example)",
        language="en",
        model="m",
        mode="workflow",
        facts=facts,
        requirements=requirements,
        passages=[document],
        opinions=[{"persona": "legal_expert", "question": "q", "answer": line, "model": "m"}],
        section_documents={"governance": [document]},
    ).markdown
    assert not re.search(r"(?<!\\)\]\(", report)  # no Markdown link or image survives unescaped
    assert "<img" not in report and "<b>" not in report  # no raw HTML
    assert not any(ln.startswith("# Heading") for ln in report.splitlines())
    assert "[docs:evil.md#0]" in report  # citations stay readable

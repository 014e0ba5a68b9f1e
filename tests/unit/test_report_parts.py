"""Each part of `agents.report` does its own job: escaping, placing council prose, questions, rendering."""

from __future__ import annotations

from agents.report.council import CouncilProse, place_council_prose, section_for_text
from agents.report.markdown import appendix_lines, references_lines, section_lines
from agents.report.questions import open_questions
from agents.report.text import clip, escape, escape_prose, labels
from agents.standard.facts import derive_facts
from agents.standard.requirements import build_requirements, requirement_passages

TASK = "We are a German employer and use a vendor's AI tool to screen CVs."


def test_text_helpers_clip_to_one_line_and_escape_markdown_structure() -> None:
    assert clip("a\n  b   c", 10) == "a b c"
    assert clip("abcdefghijkl", 6) == "abcde…"
    assert escape("[x](http://e) <b>*y*</b>") == "\\[x\\](http://e) &lt;b&gt;\\*y\\*&lt;/b&gt;"
    # Model prose keeps its citations but cannot make a link, an image or emphasis.
    assert escape_prose("See [gdpr:art-5] and [x](http://e) ![i](j) *y*") == (
        "See [gdpr:art-5] and [x]\\(http://e) \\![i]\\(j) \\*y\\*"
    )


def test_section_for_text_picks_the_section_whose_keywords_match_best() -> None:
    assert section_for_text("Encrypt the logs and test robustness and accuracy.", "governance") == "technical"
    assert section_for_text("Let people contest and override a decision by human review.", "x") == "oversight"
    assert section_for_text("Nothing to match here.", "governance") == "governance"


def test_council_lines_go_under_their_requirement_or_section_and_rejects_keep_a_reason() -> None:
    facts = derive_facts(TASK, "en")
    requirements = build_requirements(facts, "en")
    passages = requirement_passages(requirements)
    number = requirements[0]["number"]
    note = "Log each screening decision with the model version; keep the log six months [gdpr:art-22]."
    attached = f"{number}: {note}"
    # No number: its keywords (encrypt, robustness, accuracy) are the technical section's.
    loose = "Encrypt the screening logs and check the robustness and accuracy of the CV model."
    prose = place_council_prose(
        synthesis="",
        opinions=[
            {"persona": "scientist", "question": "q", "answer": f"{attached}\n{loose}", "model": "m"},
            {"persona": "legal_expert", "question": "q", "answer": "## 10. Extra section", "model": "m"},
        ],
        requirements=requirements,
        persona_titles={"scientist": "Computer scientist"},
        language="en",
        allowed=passages,
        aliases=[],
        context="\n".join([TASK, *(r["statement"] for r in requirements)]),
    )
    assert prose.attached == {number: [f"Computer scientist: {note}"]}
    assert prose.tailoring == {"technical": [f"Computer scientist: {loose}"]}
    assert prose.kept == [attached, loose]
    assert "gdpr:art-22" in prose.cited
    assert prose.rejected == [("legal_expert", "## 10. Extra section", "a heading of its own")]
    assert prose.overview == []


def test_open_questions_follow_the_facts_and_quote_source_warnings() -> None:
    facts = derive_facts("A chatbot that answers questions about our products.", "en")
    questions = open_questions(facts, "en", ["web search skipped: no key", "file `a.pdf` unreadable"])
    assert questions[0] == labels("en")["questions"]["no_jurisdiction"]
    assert questions[-1] == "Warnings: `file 'a.pdf' unreadable`"
    assert not any("web search skipped" in q for q in questions)
    with_place = open_questions(derive_facts(TASK, "en"), "en")
    assert labels("en")["questions"]["no_jurisdiction"] not in with_place


def test_rendering_an_empty_section_says_why_and_the_appendix_quotes_rejected_lines() -> None:
    lab = labels("en")
    facts = derive_facts(TASK, "en")
    empty = section_lines(
        number=5,
        key="incident",
        task=TASK,
        language="en",
        facts=facts,
        requirements=[],
        council=CouncilProse(),
        documents=[],
    )
    assert empty == [
        "",
        f"## 5. {lab['sections']['incident']}",
        "",
        lab["no_requirements"].format(why=lab["empty_why"]["incident"]),
    ]
    appendix = appendix_lines(
        synthesis="",
        opinions=[{"persona": "scientist", "question": "q", "answer": "# Title\nKeep logs.", "model": "m"}],
        rejected=[("scientist", "# Title", "a heading of its own")],
        persona_titles={"scientist": "Computer scientist"},
        language="en",
    )
    assert appendix == [
        "",
        f"## {lab['appendix']}",
        "",
        "### Computer scientist",
        "",
        f"> \\# Title ⚠ *{lab['left_out']}: a heading of its own*",
        ">",
        "> Keep logs.",
    ]
    assert references_lines(11, [], [], "en", {}) == ["", f"## 11. {lab['references']}", "", lab["none"]]

"""The standard on the real embedded model: right requirements, clean prose, revised by follow-ups.

SmolLM2-135M writes loops, headings of its own and English for Chinese tasks;
these turns show that none of that reaches the body of the standard, that the
requirements the facts call for are there, and that a follow-up revises the
thread's standard (a corrected fact changes the requirements; a request to
tighten privacy adds stricter ones) instead of starting another.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from agents.report import labels
from bench.report import score_report, section_text
from graphs.compliance import build_graph
from graphs.context import Context

pytestmark = pytest.mark.timeout(1200)

#: Long enough for the model to write a few points (and fail the gate in the usual ways).
MAX_NEW_TOKENS = 64
EN_TASK = "Draft an AI-compliance standard for a hospital triage chatbot in the EU."
ZH_TASK = "为我们在欧盟用AI筛选简历的招聘流程制定合规标准"


@pytest.fixture(scope="module")
def turns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Two threads of two turns each, on the real model and a real index."""
    context = Context(
        model="hf/embedded",
        mode="workflow",
        max_new_tokens=MAX_NEW_TOKENS,
        index_dir=str(tmp_path_factory.mktemp("index")),
        web_search=False,
        retrieval_k=3,
    )
    graph = build_graph(InMemorySaver())

    async def turn(thread: str, text: str) -> dict[str, Any]:
        config = {"configurable": {"thread_id": thread}}
        payload: Any = {"messages": [HumanMessage(text)]}
        return await graph.ainvoke(payload, config, context=context)  # type: ignore[arg-type]

    async def main() -> dict[str, dict[str, Any]]:
        return {
            "en": await turn("en", EN_TASK),
            "en2": await turn("en", "Make the data privacy part stricter."),
            "zh": await turn("zh", ZH_TASK),
            "zh2": await turn("zh", "更正：这个筛选模型是我们自己的技术团队开发的，不是外部采购的。"),
        }

    return asyncio.run(main())


def _clean(out: dict[str, Any], language: str) -> None:
    known = [r["passage"] for r in out["requirements"]] + [s["source_id"] for s in out["sources"]]
    score = score_report(out["report"], {"language": language}, must=[], may=[], must_not=[], known_ids=known)
    assert score.headings == [], score.headings  # no model-made headings
    assert score.degenerate == [], score.degenerate  # no repeated or looping lines
    assert score.fabricated == [], score.fabricated
    assert score.in_language, "a line of the body is not in the task's language"
    assert score.sections_with_requirements >= 8 / 9
    assert "wrote nothing" not in out["report"] and "未撰写" not in out["report"]


def test_an_english_triage_chatbot_standard(turns: dict[str, dict[str, Any]]) -> None:
    out = turns["en"]
    passages = {r["passage"] for r in out["requirements"]}
    # Annex III(5)(d) triage, the hospital deploys it, health data, a chatbot that talks to patients.
    assert {
        "eu-ai-act:art-26",
        "eu-ai-act:art-4",
        "gdpr:art-9",
        "gdpr:art-35",
        "eu-ai-act:art-86",
    } <= passages
    assert "eu-ai-act:art-51-55" not in passages  # no general-purpose model duties for a hospital
    assert out["report"].startswith(f"# AI compliance standard: {EN_TASK}")
    assert "## Applicability assumptions" in out["report"]
    _clean(out, "en")


def test_a_chinese_cv_screening_standard(turns: dict[str, dict[str, Any]]) -> None:
    out = turns["zh"]
    assert out["language"] == "zh"
    passages = {r["passage"] for r in out["requirements"]}
    assert {"eu-ai-act:art-6-annex-iii", "eu-ai-act:art-26", "gdpr:art-22", "gdpr:art-35"} <= passages
    assert "eu-ai-act:art-51-55" not in passages
    assert all("部署者" in r["because"] or r["instrument"] != "eu-ai-act" for r in out["requirements"])
    assert out["report"].startswith(f"# 人工智能合规标准: {ZH_TASK}")
    _clean(out, "zh")


def test_a_follow_up_that_tightens_privacy_revises_the_same_standard(
    turns: dict[str, dict[str, Any]],
) -> None:
    first, second = turns["en"], turns["en2"]
    assert second["report"].startswith(f"# AI compliance standard: {EN_TASK}")  # the thread's task stays
    assert second["facts"] == first["facts"]
    before = {r["id"] for r in first["requirements"] if r["section"] == "data"}
    after = [r for r in second["requirements"] if r["section"] == "data"]
    assert any(r["level"] == "strict" and r["id"] not in before for r in after)
    assert "gdpr.art-35.dpia-always" in {r["id"] for r in second["requirements"]}
    assert second["changes"] and {c["kind"] for c in second["changes"]} <= {"added", "tightened"}
    assert "## 10. Changes from the previous version" in second["report"]
    assert section_text(second["report"], "data", "en") != section_text(first["report"], "data", "en")
    _clean(second, "en")


def test_a_follow_up_that_corrects_a_fact_changes_the_obligations(turns: dict[str, dict[str, Any]]) -> None:
    first, second = turns["zh"], turns["zh2"]
    assert first["facts"]["roles"]["value"] == ["deployer"]
    assert second["facts"]["roles"]["value"] == ["provider", "deployer"]
    assert second["facts"]["roles"]["source"] == "user"
    added = {r["passage"] for r in second["requirements"]} - {r["passage"] for r in first["requirements"]}
    assert {"eu-ai-act:art-9", "eu-ai-act:art-10", "eu-ai-act:art-16-17", "eu-ai-act:art-43-49"} <= added
    assert labels("zh")["changes"] in second["report"]
    _clean(second, "zh")


def test_the_report_cites_only_what_it_lists(turns: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    for out in turns.values():
        for source in out["sources"]:
            assert f"[{source['source_id']}]" in out["report"]

"""Applicability facts by rules, in English and Chinese, and how a follow-up corrects them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from agents.standard.facts import derive_facts
from agents.standard.followup import apply_follow_up, requested_topics
from agents.standard.refine import refine_facts
from tests.unit.council_fakes import ScriptedChatModel


def values(text: str, language: str = "en") -> dict[str, Any]:
    return {k: f["value"] for k, f in derive_facts(text, language).items()}


def test_a_hospital_triage_chatbot_in_the_eu() -> None:
    facts = derive_facts("Draft an AI-compliance standard for a hospital triage chatbot in the EU.", "en")
    v = {k: f["value"] for k, f in facts.items()}
    assert v["jurisdictions"] == ["eu"] and v["roles"] == ["deployer"]
    assert v["use_categories"] == ["annex3:essential_services"]  # Annex III(5)(d): emergency triage
    assert v["data"] == ["personal", "special_category", "health"]
    assert "chatbot" in v["system_kinds"] and v["automated_decisions"] is True
    # Every fact has a reason and a source a reviewer can check.
    assert (
        facts["jurisdictions"]["reason"] == 'the task says "EU"'
        and facts["jurisdictions"]["source"] == "rule"
    )
    assert "special-category" in facts["data"]["reason"]


def test_a_chinese_cv_screening_task_for_an_eu_employer() -> None:
    facts = derive_facts("我们是一家德国公司，使用第三方AI工具筛选简历，请制定合规标准", "zh")
    v = {k: f["value"] for k, f in facts.items()}
    assert v["jurisdictions"] == ["eu"] and v["roles"] == ["deployer"]
    assert v["use_categories"] == ["annex3:employment"] and v["automated_decisions"] is True
    assert v["data"] == ["personal"] and v["sector"] == "employment"
    assert facts["jurisdictions"]["reason"] == "任务提到“德国”"


def test_an_unstated_task_leaves_the_facts_open() -> None:
    v = values("制定人工智能合规标准，避免人工智能伤害人类", "zh")
    assert v["jurisdictions"] == [] and v["roles"] == [] and v["use_categories"] == [] and v["data"] == []


@pytest.mark.parametrize(
    ("text", "key", "absent"),
    [
        ("A chatbot for our staff in Berlin. We do not process any health data.", "data", "health"),
        ("We are not the provider; we use a vendor's screening tool in France.", "roles", "provider"),
        ("We need no bias in hiring decisions in the EU.", "use_categories", None),  # "no" is about bias
        ("Our stores are in the UK. We have no stores in the EU.", "jurisdictions", "eu"),
        ("We've sold our EU business; the bank now only operates in the US.", "jurisdictions", "eu"),
    ],
)
def test_negation_takes_a_value_away_only_where_it_governs_it(
    text: str, key: str, absent: str | None
) -> None:
    v = values(text)
    if absent is None:
        assert v[key] == ["annex3:employment"]
    else:
        assert absent not in v[key]


def test_prohibited_practices_and_their_exceptions() -> None:
    assert values("Our call centre in Spain wants to detect agents' frustration and stress on calls.")[
        "prohibited"
    ] == ["emotion_recognition_workplace_education"]
    scraping = values("We crawl Instagram and public webcams to build a face index for customers in the EU.")
    assert "facial_scraping" in scraping["prohibited"]
    police = (
        "Police in Belgium want a tool to predict which residents will commit crimes, from their profile."
    )
    assert values(police)["prohibited"] == ["crime_prediction_profiling"]
    supported = (
        police + " It only supports the investigator's own assessment based on objective, verifiable facts."
    )
    assert values(supported)["prohibited"] == []
    # Prohibitions and high-risk categories are EU concepts: no EU link, no category.
    assert values("A US shop detects customers' emotions from their faces.")["use_categories"] == []


def test_roles_follow_who_builds_who_sells_and_who_uses() -> None:
    assert values("We build and sell a credit-scoring API to lenders in the EU.")["roles"] == ["provider"]
    assert values("Our bank in Ireland built an in-house credit model for its loan decisions.")["roles"] == [
        "provider",
        "deployer",
    ]
    assert values("We're a Dutch firm importing a Korean-made exam grading tool into the EU.")["roles"] == [
        "importer"
    ]
    release = values("We are a Paris lab publishing the weights of our general-purpose language model.")
    assert release["roles"] == ["gpai_provider"] and "gpai_model" in release["system_kinds"]
    assert values("We are building a chatbot on top of an open-source language model.")["roles"] == [
        "provider"
    ]


def test_where_a_product_comes_from_is_not_where_it_is_used() -> None:
    assert values("We import a US-made skin lesion app into the EU.")["jurisdictions"] == ["eu"]
    assert values("我们是法国的经销商，代理销售一家中国公司开发的招聘软件。", "zh")["jurisdictions"] == ["eu"]


@pytest.mark.parametrize(
    ("task", "places"),
    [
        # Mainland cities beyond the largest, in Chinese and in pinyin, and administrative words.
        ("我们是长沙的一个二手车交易平台，准备上线AI看车助手", ["cn"]),
        ("我们是东莞一家劳务派遣公司，想上一个AI面试系统", ["cn"]),
        ("我是某地级市交警支队信息科的，想装AI摄像头识别违章", ["cn"]),
        ("A logistics firm in Dongguan wants AI to schedule its drivers", ["cn"]),
        ("大理石加工厂想用AI检测瑕疵", []),  # marble, not the city of Dali
        # A Chinese platform is where a service runs, not where its users are.
        ("我们在纽约开补习班，想在微信群里放一个AI助教回答家长问题", ["us"]),
        ("我们想在微信小程序上线一个AI客服", ["cn"]),
        # Where a framework or a model comes from, or where data is not sent, is not a jurisdiction.
        ("我们是杭州的出版社，老板让参考美国NIST的AI风险管理框架写内部制度", ["cn"]),
        ("我们在荷兰招聘，数据都存在欧洲，不传回国内", ["eu"]),
        # Cities of EU member states beyond the capitals; a word that is also a city only capitalised.
        ("Eight veterinary clinics around Cork and Limerick want a booking chatbot", ["eu"]),
        ("The City of Ghent wants summaries of council meetings", ["eu"]),
        ("A nice tool to split invoices for a US firm in Ohio", ["us"]),
        # Where the servers are, where the parent group is from, where a product is bought from.
        ("An insurer in Arizona and New Mexico; claims photos are stored in AWS's Ireland region", ["us"]),
        ("德国汽车零部件集团上海子公司，系统部署在总部法兰克福的云上，数据要传到德国", ["cn"]),
        ("我们是米兰的贸易公司，从深圳一家厂商进口人脸识别考勤机", ["eu"]),
    ],
)
def test_where_the_organisation_is(task: str, places: list[str]) -> None:
    assert (
        derive_facts(task, "zh" if re.search(r"[\u4e00-\u9fff]", task) else "en")["jurisdictions"]["value"]
        == places
    )


def test_a_follow_up_corrects_facts_and_keeps_the_rest() -> None:
    first = derive_facts("Draft a policy for a hospital triage chatbot in the EU.", "en")
    revision = apply_follow_up(first, "Actually we are the provider: we built it ourselves.", "en")
    assert revision.facts["roles"]["value"] == ["provider", "deployer"]  # it still runs the chatbot
    assert revision.facts["roles"]["source"] == "user" and "roles" in revision.corrected
    assert revision.facts["jurisdictions"] == first["jurisdictions"]  # untouched
    no_health = apply_follow_up(first, "No health data is involved.", "en")
    assert no_health.facts["data"]["value"] == ["personal"]
    moved = apply_follow_up(first, "Correction: we only operate in the US now.", "en")
    assert moved.facts["jurisdictions"]["value"] == ["us"] and moved.facts["use_categories"]["value"] == []


def test_a_chinese_follow_up_corrects_in_chinese() -> None:
    first = derive_facts("我们是一家跨境电商，面向欧盟和中国大陆消费者上线智能客服。", "zh")
    assert first["jurisdictions"]["value"] == ["eu", "cn"]
    revision = apply_follow_up(first, "更正：我们不面向中国境内公众提供服务。", "zh")
    assert revision.facts["jurisdictions"]["value"] == ["eu"]
    assert revision.facts["jurisdictions"]["reason"].startswith("您说明")


@pytest.mark.parametrize(
    ("text", "tighten", "relax"),
    [
        ("请把其中关于数据隐私的部分写得更严格", ["data"], []),
        ("Make the human oversight requirements stricter.", ["oversight"], []),
        ("The transparency part is too strict, please relax it.", [], ["transparency"]),
        ("Add a section on our office locations.", [], []),
    ],
)
def test_what_a_follow_up_asks_to_tighten(text: str, tighten: list[str], relax: list[str]) -> None:
    assert requested_topics(text) == (tighten, relax)


async def test_a_capable_model_fills_only_what_the_rules_left_open() -> None:
    from langchain_core.messages import AIMessage

    def script(persona, messages, tools):
        args = {"jurisdictions": ["us"], "roles": ["deployer"], "data": ["personal"], "public_sector": True}
        return AIMessage("", tool_calls=[{"name": "TaskFacts", "args": args, "id": "1", "type": "tool_call"}])

    facts = derive_facts("A chatbot for the city of Berlin's citizens.", "en")
    refined, note = await refine_facts(ScriptedChatModel(script=script), "task", facts, "en")
    assert note == ""
    assert (
        refined["jurisdictions"] == facts["jurisdictions"]
    )  # the rule said EU; the model cannot overrule it
    assert refined["public_sector"]["value"] is True and refined["public_sector"]["source"] == "model"


async def test_a_model_without_structured_output_keeps_the_rule_facts() -> None:
    facts = derive_facts("A chatbot in Berlin.", "en")
    refined, note = await refine_facts(ScriptedChatModel(), "A chatbot in Berlin.", facts, "en")
    assert refined == facts and "rules only" in note


def test_a_use_the_rules_missed_is_matched_by_similarity_and_marked_so() -> None:
    from agents.standard.similarity import examples, match_use

    employment = examples()["annex3:employment"][0]

    def embed(texts):  # a fake embedding: a text is close to the employment example it shares words with
        def vec(t: str) -> list[float]:
            shared = len(set(t.lower().split()) & set(employment.split()))
            return [1.0, float(shared)]

        return [vec(t) for t in texts]

    task = "In Austria we want software to screen and rank job applicants' CVs for us"
    facts = derive_facts("In Austria we want software that handles incoming people for us.", "en")
    assert facts["use_categories"]["value"] == []
    matched = match_use(facts, task, "en", embed)
    assert matched["use_categories"]["value"] == ["annex3:employment"]
    assert matched["use_categories"]["source"] == "similarity"
    assert matched["automated_decisions"]["value"] is True
    # Outside the EU, or where a rule already found the use, similarity adds nothing.
    us = derive_facts("In Texas we want software that handles incoming people.", "en")
    assert match_use(us, task, "en", embed) == us


def test_a_filter_used_solely_for_cybersecurity_is_not_critical_infrastructure() -> None:
    ddos = (
        "We run data centres in Germany for a grid operator; an ML model spots DDoS attacks and filters them."
    )
    grid = "An ML model balances the electricity grid load for a grid operator in Germany."
    assert values(ddos)["jurisdictions"] == ["eu"]  # running data centres there is operating there
    assert "annex3:critical_infrastructure" not in values(ddos)["use_categories"]
    assert "annex3:critical_infrastructure" in values(grid)["use_categories"]


def test_a_legal_label_the_user_asks_about_is_not_a_fact() -> None:
    asked = values(
        "A bus company in Utrecht uses in-cab cameras that detect drowsiness. Our works council asked "
        "whether this is the banned 'emotion recognition at work'."
    )
    assert asked["prohibited"] == [] and "emotion_recognition" not in asked["system_kinds"]
    assert (
        "gpai_model"
        not in values(
            "We fine-tuned a model in Madrid. Does this make us a general-purpose AI model provider?"
        )["system_kinds"]
    )
    assert values("An insurer in Arizona; does hosting in Ireland pull us under EU rules?")[
        "jurisdictions"
    ] == ["us"]
    # A question about a use is still about that use, and the AI Act named in it still means the EU.
    assert values("Is CV screening for our Berlin office high-risk under the AI Act?")["use_categories"] == [
        "annex3:employment"
    ]


def test_a_subsidiary_selling_its_foreign_parents_system_under_the_parents_brand_imports_it() -> None:
    task = (
        "Budapest subsidiary of a Chicago company; we deliver its AI module to firms in Hungary, "
        "sold under our parent's brand."
    )
    assert values(task)["roles"] == ["importer"] and values(task)["jurisdictions"] == ["eu"]


def test_a_platform_launching_an_ai_customer_service_bot_provides_and_runs_a_chatbot() -> None:
    facts = values("我们是杭州一家电商平台，想上线AI客服，回答用户关于订单和退货的问题。", "zh")
    assert facts["roles"] == ["provider", "deployer"]
    assert facts["system_kinds"] == ["chatbot", "generated_content"]

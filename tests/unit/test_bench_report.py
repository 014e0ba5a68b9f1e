"""bench/report.py's deterministic mode on the labelled dev set, and its scoring catching what it should."""

from __future__ import annotations

from bench.report import SETS, deterministic_turn, load_tasks, run, score_report

TASK = {"id": "t", "task": "x", "language": "en"}


def test_the_deterministic_standard_meets_its_targets_on_the_dev_set() -> None:
    tasks = [t for path in SETS["dev"] for t in load_tasks(path)]
    assert len(tasks) >= 40
    assert {t["language"] for t in tasks} == {"en", "zh"}
    result = run(tasks, None, verbose=False)
    assert result["facts_accuracy"] >= 0.9
    assert result["obligation_recall"] >= 0.9 and result["obligation_precision"] >= 0.85
    assert result["must_not_violations"] == 0 and result["fabricated_citations"] == 0
    assert result["degenerate_text_in_report"] == 0 and result["model_headings_in_report"] == 0
    assert result["language_match"] == 1.0
    assert result["followup_recall"] >= 0.9 and result["followup_must_not_violations"] == 0


def test_the_scoring_sees_headings_repeats_fabrications_and_the_wrong_language() -> None:
    turn = deterministic_turn("We use a vendor's CV screening tool in Germany.", "en")
    clean = score_report(turn.report, TASK, must=[], may=[], must_not=[], known_ids=turn.known_ids)
    assert not clean.headings and not clean.degenerate and not clean.fabricated and clean.in_language
    body, rest = turn.report.split("## 10. Open questions")
    broken = (
        body
        + "## 14. My own section\n\n"
        + "- Log all data [made:up].\n- Log all data [made:up].\n- 记录所有数据。\n\n"
        + "## 10. Open questions"
        + rest
    )
    bad = score_report(broken, TASK, must=[], may=[], must_not=[], known_ids=turn.known_ids)
    assert bad.headings == ["## 14. My own section"]
    assert bad.fabricated == ["made:up"]
    assert len(bad.degenerate) == 1
    assert not bad.in_language


def test_recall_precision_and_must_not_are_counted_on_what_the_body_cites() -> None:
    turn = deterministic_turn("We use a vendor's CV screening tool in Germany.", "en")
    score = score_report(
        turn.report,
        TASK,
        must=["eu-ai-act:art-26", "eu-ai-act:art-99"],
        may=[],
        must_not=["eu-ai-act:art-26"],
        known_ids=turn.known_ids,
    )
    assert score.must_hit == 1 and score.missed == ["eu-ai-act:art-99"]
    assert score.must_not == ["eu-ai-act:art-26"]
    assert score.corpus_cited > score.labelled_ok  # unlabelled citations count against precision

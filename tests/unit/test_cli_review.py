"""`--review` and `--resume` in the CLI, in-process on the fake model: terminal and no terminal."""

from __future__ import annotations

import io
import json

import graphs.cli as cli
from graphs.cli_review import prog

LOAN = "An EU bank uses an AI model it bought to score loan applicants"


class Terminal(io.StringIO):
    """Stdin that says it is a terminal and answers from a script."""

    def isatty(self) -> bool:
        return True


def test_without_a_terminal_it_exits_3_with_the_table_and_the_resume_commands(cli_run, tmp_path) -> None:
    status, out, err = cli_run("--review", "--thread", "loan", "--new", LOAN)
    assert status == cli.EXIT_REVIEW and out == ""
    assert "  2. Your role(s): deployer" in err  # the numbered table
    assert "They select" in err and "Art. 26" in err  # and the obligations it would select
    db = str(tmp_path / "threads.sqlite")
    # The commands run as written here: this interpreter (`.venv/bin/python3 -m …`), not a bare python.
    assert f"{prog()} --thread loan --db {db} --resume approve" in err
    assert f"--thread loan --db {db} --resume 2=provider" in err

    # --show marks the paused turn and shows what waits.
    status, out, err = cli_run("--show", "loan")
    assert status == 0 and "### user" in out and "paused for review" in err and "2. Your role(s)" in err

    # Another request on a paused thread is refused, and the pause is kept.
    status, out, err = cli_run("--thread", "loan", "and make privacy stricter")
    assert status == cli.EXIT_USAGE and "is paused for review: answer it first" in err

    # A bad answer is one line and changes nothing; a good one finishes the turn.
    status, out, err = cli_run("--thread", "loan", "--resume", "2=vendor")
    assert status == cli.EXIT_USAGE
    assert err.strip().splitlines() == [
        "error: --resume: roles: unknown value 'vendor'; choose from provider, deployer, importer, "
        "distributor, gpai_provider"
    ]
    status, out, err = cli_run("--thread", "loan", "--resume", "2=provider", "--json")
    result = json.loads(out)
    assert status == 0 and result["status"] == "done"
    assert result["facts"]["roles"]["value"] == ["provider"]
    assert result["review"] == {"status": "corrected", "corrected": ["roles"], "note": ""}
    assert any(r["id"].startswith("eu-ai-act.art-9.") for r in result["requirements"])

    # Resuming twice is an error, not a second report.
    status, out, err = cli_run("--thread", "loan", "--resume", "approve")
    assert status == cli.EXIT_USAGE and "thread loan is not paused for review: nothing to resume" in err
    status, out, err = cli_run("--show", "loan")
    assert out.count("### user") == 1 and out.count("### coordinator") == 1


def test_json_without_a_terminal_prints_the_pause(cli_run) -> None:
    status, out, _err = cli_run("--review", "--json", "--thread", "j", "--new", LOAN)
    paused = json.loads(out)
    assert status == cli.EXIT_REVIEW and paused["status"] == "paused_for_review"
    assert paused["review"]["kind"] == "review_facts" and paused["review"]["facts"][1]["key"] == "roles"
    assert paused["resume"][0].endswith("--resume approve")


def test_on_a_terminal_it_asks_until_the_answer_reads(cli_run) -> None:
    answers = Terminal("2=vendor\ndata+=health; our credit committee signs off every rejection\n")
    status, out, err = cli_run("--review", "--thread", "tty", "--new", LOAN, stdin=answers)
    assert status == 0
    assert "  2. Your role(s): deployer" in err
    assert "error: roles: unknown value 'vendor'" in err  # asked again after the bad answer
    assert "the reviewer corrected A6 (Data about people)" in out
    assert "Reviewer's note to the council: “our credit committee signs off every rejection”" in out


def test_a_terminal_approval(cli_run) -> None:
    status, out, _err = cli_run("--review", "--thread", "ok", "--new", LOAN, stdin=Terminal("y\n"))
    assert status == 0 and "the reviewer approved these assumptions" in out


def test_end_of_input_on_a_terminal_leaves_the_thread_paused(cli_run) -> None:
    status, out, err = cli_run("--review", "--thread", "eof", "--new", LOAN, stdin=Terminal(""))
    assert status == cli.EXIT_REVIEW and "--thread eof" in err and "--resume approve" in err
    # Asked again when the same thread is opened with nothing to say: the pause is still there.
    status, out, err = cli_run("--thread", "eof", stdin=Terminal("approve\n"))
    assert status == 0 and "the reviewer approved these assumptions" in out


def test_resume_needs_a_paused_thread(cli_run) -> None:
    status, _out, err = cli_run("--resume", "approve")
    assert status == cli.EXIT_USAGE and "--resume answers a paused thread: give it with --thread ID" in err
    cli_run("--thread", "plain", "--new", LOAN)
    status, _out, err = cli_run("--thread", "plain", "--resume", "approve")
    assert status == cli.EXIT_USAGE and "thread plain is not paused for review" in err

"""The CLI's side of human review: show the paused facts, ask on the terminal, say how to resume.

The graph pauses with a review payload (`agents.standard.review.review_payload`);
here it becomes a numbered table on stderr, a prompt on the terminal, or —
with no terminal — the exact commands that resume the paused thread.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import textwrap
from collections.abc import Mapping
from typing import Any, TextIO

from agents.standard.review import PAYLOAD_KIND, ReviewError, parse_answer, review_labels
from agents.standard.types import FactDict


def prog() -> str:
    """This CLI as a command that runs as written where the user is.

    Plain ``python`` only when ``python`` on PATH is this interpreter: otherwise a
    printed ``python -m graphs.compliance`` would fail with ModuleNotFoundError
    (no virtual environment active), so the interpreter's own path is printed,
    relative to the current folder where it lies inside it (``.venv/bin/python``).
    """
    exe = os.path.abspath(sys.executable)
    on_path = shutil.which("python")
    if on_path and os.path.abspath(on_path) == exe:
        return "python -m graphs.compliance"
    here = os.getcwd()
    shown = os.path.relpath(exe, here) if exe.startswith(here + os.sep) else exe
    return f"{shlex.quote(shown)} -m graphs.compliance"


def pending_review(state: Any) -> dict[str, Any] | None:
    """The review payload a thread is paused on (a LangGraph `StateSnapshot`), or None."""
    for pause in getattr(state, "interrupts", ()) or ():
        value = getattr(pause, "value", None)
        if isinstance(value, dict) and value.get("kind") == PAYLOAD_KIND:
            return value
    return None


def payload_facts(payload: Mapping[str, Any]) -> dict[str, FactDict]:
    """The facts as the payload lists them, keyed as the graph keeps them."""
    return {
        row["key"]: {
            "key": row["key"],
            "value": row["value"],
            "reason": row["reason"],
            "source": row["source"],
        }
        for row in payload.get("facts", [])
    }


def check_answer(answer: str, payload: Mapping[str, Any]) -> None:
    """Raise `ReviewError` for an answer the graph would not accept, before anything runs."""
    parse_answer(answer, payload_facts(payload), str(payload.get("language", "en")))


def review_table(payload: Mapping[str, Any], width: int = 100) -> str:
    """The facts as a numbered table, then the requirements they select, for the terminal."""
    text = review_labels(str(payload.get("language", "en")))
    lines = [text["table_title"], ""]
    for row in payload.get("facts", []):
        head = f"{row['number']:>3}. {row['label']}: {row['shown']}"
        lines.append(head)
        why = f"{row['reason']} [{row['source_label']}]"
        lines += textwrap.wrap(why, width, initial_indent="       ", subsequent_indent="       ")
    requirements = payload.get("requirements", [])
    lines += ["", text["requirements_title"].format(count=len(requirements)) + ":"]
    for r in requirements:
        lines.append(
            textwrap.shorten(f"  {r['number']} {r['instrument']} {r['article']}: {r['statement']}", width)
        )
    if payload.get("error"):
        lines += ["", f"error: {payload['error']}"]
    return "\n".join(lines)


def resume_commands(thread_id: str, payload: Mapping[str, Any], db: str | None = None) -> list[str]:
    """Commands that answer the paused review: approve, correct a fact, leave a note."""
    base = ["--thread", thread_id, *(["--db", db] if db else [])]
    roles: list[str] = next((r["value"] for r in payload.get("facts", []) if r["key"] == "roles"), [])
    other = "deployer" if roles == ["provider"] else "provider"
    zh = payload.get("language") == "zh"
    note = "我们的信贷委员会复核每一项拒绝决定" if zh else "our credit committee signs off every rejection"
    answers = ["approve", f"2={other}", f"data+=health; {note}"]
    command = prog()
    return [f"{command} {shlex.join([*base, '--resume', answer])}" for answer in answers]


def paused_message(thread_id: str, payload: Mapping[str, Any], db: str | None = None) -> str:
    """What a non-interactive run prints when it stops for review."""
    text = review_labels(str(payload.get("language", "en")))
    commands = "\n".join(f"  {c}" for c in resume_commands(thread_id, payload, db))
    return f"{text['paused'].format(thread=thread_id)}; {text['resume_with']}\n{commands}"


def ask(payload: Mapping[str, Any], stdin: TextIO, stderr: TextIO) -> str | None:
    """Ask on the terminal until the answer is one the graph accepts; None at end of input."""
    text = review_labels(str(payload.get("language", "en")))
    print(review_table(payload), file=stderr)
    while True:
        stderr.write("\n" + text["prompt"])
        stderr.flush()
        line = stdin.readline()
        if not line:
            return None
        answer = line.strip()
        try:
            check_answer(answer, payload)
        except ReviewError as exc:
            print(f"error: {exc}", file=stderr)
            continue
        return answer


def corrected_line(review: Mapping[str, Any] | None) -> str:
    """One line for the live log once the reviewer answered."""
    if not review:
        return ""
    if review.get("corrected"):
        done = "review: corrected " + ", ".join(review["corrected"])
    else:
        done = "review: approved"
    return done + (" (with a note for the experts)" if review.get("note") else "")

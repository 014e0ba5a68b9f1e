"""`python -m graphs.compliance`: run the council from the command line.

The live work (who is speaking, their tokens, the sources found) goes to
stderr as it happens; the report goes to stdout (or `--output`, or `--json`),
so `> report.md` captures just the report. Threads persist in SQLite (or
PostgreSQL) and continue with `--thread ID`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from agents import ModelUnavailableError, load_chat_model
from agents.models.errors import redact_credentials
from agents.standard.review import ReviewError
from graphs.checkpointing import CheckpointerError, is_postgres_url, open_async_checkpointer
from graphs.cli_review import (
    ask,
    check_answer,
    corrected_line,
    paused_message,
    pending_review,
    resume_commands,
    review_table,
)
from graphs.context import PERSONA_MODEL_FIELDS, Context
from graphs.live import LivePrinter, PromptWatcher
from graphs.thread_lock import hold_thread
from graphs.threads import alist_threads
from tools.retrieval.settings import docs_folder
from tools.settings_registry import RUN_SETTINGS, Setting

EXIT_USAGE = 2
EXIT_UNAVAILABLE = 1
EXIT_REVIEW = 3  # paused for review with no terminal to ask on
EXIT_INTERRUPTED = 130
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: what a Unix tool reports when its reader went away

#: The Context fields the command line can set: every run setting with a flag.
_SETTINGS = tuple(s.name for s in RUN_SETTINGS if s.flags)


class UsageError(ValueError):
    """A mistake on the command line; printed as one line."""


class StdoutClosed(Exception):
    """The reader of stdout went away (`… | head -1`): stop quietly, as Unix tools do."""


def _out(text: str) -> None:
    """Print `text` to stdout: the report, the JSON or the thread list, nothing else goes there.

    Only a closed stdout becomes `StdoutClosed`; a broken pipe elsewhere (a socket to a
    remote expert) stays an error worth a line.
    """
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise StdoutClosed from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: the flag and what is wrong with it.
        raise UsageError(f"{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    """The command line, documented in `--help`."""
    p = _Parser(
        prog="python -m graphs.compliance",
        description="Draft an AI-compliance standard for a task with the compliance council.",
    )
    p.add_argument("task", nargs="?", help="the task, or '-' to read it from stdin")
    t = p.add_argument_group("threads")
    t.add_argument("--thread", metavar="ID", help="continue this conversation (see --list-threads)")
    t.add_argument("--new", action="store_true", help="start a new thread (named by --thread if given)")
    t.add_argument("--list-threads", action="store_true", help="list saved threads and exit")
    t.add_argument("--show", metavar="ID", help="print a thread's conversation and exit")
    t.add_argument("--db", metavar="PATH|URL", help="thread database: a SQLite file or a postgresql:// URL")
    groups = {name: p.add_argument_group(name) for name in ("review", "models and decoding", "council")}
    for setting in RUN_SETTINGS:
        if setting.flags:
            _add_flag(groups[setting.group], setting)
    groups["review"].add_argument(
        "--resume",
        metavar="ANSWER",
        help="answer the review a thread is paused on (with --thread): 'approve', corrections such as "
        "'2=provider' or 'data+=health', or a note for the experts; combine with ';'",
    )
    o = p.add_argument_group("output")
    o.add_argument("--output", metavar="FILE", help="also write the report to FILE")
    o.add_argument("--json", action="store_true", help="print the final result as JSON on stdout")
    o.add_argument("--quiet", action="store_true", help="no live progress on stderr")
    return p


#: What a flag does on the terminal beyond the setting's description.
_CLI_NOTES = {
    "review": " On the terminal it asks; with no terminal it exits with code 3 and prints how to resume.",
}


def _add_flag(group: Any, setting: Setting) -> None:
    """One flag from the registry: help is the setting's description, type and choices its own."""
    help_text = setting.description + _CLI_NOTES.get(setting.name, "")
    help_text = help_text.replace("%", "%%")  # argparse formats help with %
    if setting.kind == "bool":
        group.add_argument(
            *setting.flags, dest=setting.name, action=argparse.BooleanOptionalAction, help=help_text
        )
        return
    kind: dict[str, Any] = {"int": int, "optional_int": int, "float": float}
    group.add_argument(
        *setting.flags,
        dest=setting.name,
        type=kind.get(setting.kind, str),
        choices=setting.choices or None,
        metavar=setting.metavar,
        help=help_text,
    )


def context_from_args(args: argparse.Namespace) -> Context:
    """The run's `Context`: environment defaults, overridden by the flags given."""
    ctx = Context()
    for name in _SETTINGS:
        value = getattr(args, name, None)
        if value is not None:
            setattr(ctx, name, value)
    ctx.__post_init__()  # validate again with the flags applied
    if ctx.docs_dir and not Path(docs_folder(ctx.docs_dir)).expanduser().is_dir():
        raise UsageError(f"--docs: {ctx.docs_dir} is not a directory or a document collection")
    for persona in PERSONA_MODEL_FIELDS:
        # Validates the spec and options, and fails fast for an Ollama server that is not there.
        load_chat_model(ctx.persona_model(persona), **ctx.model_options(ctx.persona_model(persona)))
    return ctx


#: Options whose values are free text, for the graph: bytes that are not UTF-8 become U+FFFD.
_TEXT_OPTIONS = {"task": "the task", "resume": "the --resume answer"}
#: Options that are only ever file paths on this machine: any name the OS can open is fine.
_OS_PATH_OPTIONS = ("output",)


def valid_text(text: str) -> tuple[str, bool]:
    r"""`text` as valid Unicode, and whether it had to be repaired.

    Python hands over bytes that are not UTF-8 (in argv, or in stdin under a C
    locale) as lone surrogates ("\udcff"), which no checkpointer, tokenizer or
    JSON encoder accepts; each becomes U+FFFD.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), True
    return text, False


def _shown(text: str) -> str:
    r"""`text` printable, with bytes that are not UTF-8 as \xNN escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """Make every text argument valid Unicode before the graph sees it; returns warnings.

    The task and a `--resume` answer are repaired (undecodable bytes become
    U+FFFD, with a warning); a thread id, model spec, folder or URL that is not
    valid UTF-8 would name something else once repaired, so it is refused.

    Raises:
        UsageError: naming the option whose value is not valid UTF-8.
    """
    flags = {a.dest: a.option_strings[0] if a.option_strings else a.dest for a in parser._actions}
    warnings = []
    for name, value in vars(args).items():
        if not isinstance(value, str) or name in _OS_PATH_OPTIONS:
            continue
        repaired, changed = valid_text(value)
        if not changed:
            continue
        if name in _TEXT_OPTIONS:
            setattr(args, name, repaired)
            warnings.append(f"{_TEXT_OPTIONS[name]} is not valid UTF-8: undecodable bytes replaced by U+FFFD")
        else:
            raise UsageError(f"{flags.get(name, name)}: '{_shown(value)}' is not valid UTF-8")
    return warnings


def read_task(args: argparse.Namespace) -> str:
    """The task from the argument or stdin ('-'); '' when none was given.

    Stdin is read as bytes and decoded as UTF-8 whatever the locale; bytes that
    are not UTF-8 become U+FFFD, with a one-line warning on stderr.
    """
    if args.task != "-":
        return (args.task or "").strip()
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        data = buffer.read()
        try:
            text, repaired = data.decode("utf-8-sig"), False
        except UnicodeDecodeError:
            text, repaired = data.decode("utf-8-sig", "replace"), True
    else:  # a text stream without bytes underneath (e.g. io.StringIO)
        text, repaired = valid_text(sys.stdin.read())
    if repaired:
        _warn("the task on stdin is not valid UTF-8: undecodable bytes replaced by U+FFFD")
    return text.strip()


def _warn(message: str) -> None:
    print(f"warning: {redact_credentials(message)}", file=sys.stderr)


def password_warnings(args: argparse.Namespace) -> list[str]:
    """Warnings for passwords given on the command line, where `ps` shows them to everyone."""
    warnings = []
    if args.db and is_postgres_url(args.db) and redact_credentials(args.db) != args.db:
        warnings.append(
            "the --db URL holds a password, which other users of this machine can see in the process "
            "list; leave it out and set PGPASSWORD (which libpq reads), or put the URL in $COUNCIL_DB"
        )
    if args.experts_url and redact_credentials(args.experts_url) != args.experts_url:
        warnings.append(
            "the --experts-url holds a password, which other users of this machine can see in the "
            "process list; put the URL in $COUNCIL_EXPERTS_URL instead"
        )
    return warnings


# -- commands --------------------------------------------------------------------------


async def list_threads_command(saver: BaseCheckpointSaver) -> int:
    """Print the saved threads, newest first."""
    threads = await alist_threads(saver)
    if not threads:
        print("no saved threads", file=sys.stderr)
    for info in threads:
        _out(f"{info.thread_id}\t{info.updated_at}\t{info.title}")
    return 0


async def show_command(saver: BaseCheckpointSaver, thread_id: str, db: str | None = None) -> int:
    """Print one thread's conversation: each task and the report that answered it."""
    from graphs.compliance import build_graph

    state = await build_graph(saver).aget_state(_config(thread_id))
    messages = state.values.get("messages", []) if state.values else []
    if not messages:
        raise UsageError(f"unknown thread {thread_id!r} (see --list-threads)")
    for message in messages:
        who = "user" if isinstance(message, HumanMessage) else getattr(message, "name", None) or "council"
        _out(f"### {who}\n\n{message.text}\n")
    review = pending_review(state)
    if review is not None:
        print(review_table(review), file=sys.stderr)
        print(f"(the last turn is {paused_message(thread_id, review, _db_shown(db))})", file=sys.stderr)
    elif state.next:
        print(f"(the last turn was interrupted; run with --thread {thread_id} to finish it)", file=sys.stderr)
    return 0


def _db_shown(db: str | None) -> str | None:
    """`--db` as commands printed for the user show it: without its password."""
    return None if db is None else redact_credentials(db)


def _config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


async def run_command(args: argparse.Namespace, ctx: Context, saver: BaseCheckpointSaver, task: str) -> int:
    """Run a turn (finishing an interrupted one first), ask for review if it pauses, print the result."""
    from graphs.compliance import build_graph

    graph = build_graph(saver)
    thread_id = args.thread_id
    config = _config(thread_id)
    state = await graph.aget_state(config)
    exists = bool(state.values)
    if args.thread and not exists and not args.new:
        raise UsageError(f"unknown thread {args.thread!r} (see --list-threads, or add --new to start it)")
    if args.new and args.thread and exists:
        raise UsageError(f"thread {args.thread!r} already exists (drop --new to continue it)")
    review = pending_review(state)
    _check_resume(args, thread_id, review, task)
    pending = bool(state.next) and review is None
    if not task and not pending and review is None:
        raise UsageError("the task is empty: give it as an argument or on stdin with '-'")
    if args.output and not Path(args.output).expanduser().parent.is_dir():
        # Checked now, not after minutes of generation.
        raise UsageError(f"--output: the folder of {args.output} does not exist")

    live = None if args.quiet or args.json else LivePrinter(sys.stderr)
    await _preload(ctx, live)
    result: dict[str, Any] = {}
    if pending:
        if live:
            live.note(f"finishing the interrupted turn of thread {thread_id}")
        result = await _stream(graph, None, config, ctx, live)
    if args.resume is not None:
        result = await _stream(graph, Command(resume=args.resume), config, ctx, live)
    elif task:
        result = await _stream(graph, {"messages": [HumanMessage(task)]}, config, ctx, live)
    while (review := pending_review(await graph.aget_state(config))) is not None:
        answer = await asyncio.to_thread(ask, review, sys.stdin, sys.stderr) if sys.stdin.isatty() else None
        if answer is None:
            return _paused(args, thread_id, review)
        answer = valid_text(answer)[0]
        result = await _stream(graph, Command(resume=answer), config, ctx, live)

    report = str(result.get("report", ""))
    if args.output:
        Path(args.output).expanduser().write_text(report, encoding="utf-8")
    if args.json:
        final = await graph.aget_state(config)
        _out(json.dumps(_json_result(thread_id, ctx, final.values), ensure_ascii=False, indent=2))
    else:
        _out(report)
    if not args.quiet:
        print(f"thread {thread_id}: continue with --thread {thread_id}", file=sys.stderr)
    return 0


def _check_resume(args: argparse.Namespace, thread_id: str, review: dict[str, Any] | None, task: str) -> None:
    """A `--resume` needs a paused thread and an answer the graph accepts; a paused thread needs one."""
    if args.resume is None:
        if review is not None and task:
            raise UsageError(
                f"thread {thread_id} is paused for review: answer it first (--thread {thread_id} "
                "--resume approve, or corrections, or a note), then send the next request"
            )
        return
    if not args.thread:
        raise UsageError("--resume answers a paused thread: give it with --thread ID")
    if review is None:
        raise UsageError(
            f"thread {thread_id} is not paused for review: nothing to resume (see --show {thread_id})"
        )
    if task:
        raise UsageError("--resume takes no task: send the next request once the paused turn has finished")
    try:
        check_answer(args.resume, review)
    except ReviewError as exc:
        raise UsageError(f"--resume: {exc}") from None


def _paused(args: argparse.Namespace, thread_id: str, review: dict[str, Any]) -> int:
    """No terminal to ask on: show what waits for review and how to answer it, exit 3."""
    print(review_table(review), file=sys.stderr)
    print(paused_message(thread_id, review, _db_shown(args.db)), file=sys.stderr)
    if args.json:
        out = {
            "thread_id": thread_id,
            "status": "paused_for_review",
            "review": review,
            "resume": resume_commands(thread_id, review, _db_shown(args.db)),
        }
        _out(json.dumps(out, ensure_ascii=False, indent=2))
    return EXIT_REVIEW


async def _preload(ctx: Context, live: LivePrinter | None) -> None:
    """Load models and the index up front, with progress, rather than silently mid-run."""
    from tools import RetrievalSettings, get_retriever

    for spec in dict.fromkeys(ctx.persona_model(p) for p in PERSONA_MODEL_FIELDS):
        model = load_chat_model(spec, **ctx.model_options(spec))
        engine = getattr(model, "engine", None)
        if callable(engine):
            with live.loading(f"loading {spec}") if live else contextlib.nullcontext():
                await asyncio.to_thread(engine)
    retriever = get_retriever(RetrievalSettings.from_context(ctx))
    with live.loading("updating the document index") if live else contextlib.nullcontext():
        await asyncio.to_thread(retriever.refresh, progress=live is not None)


async def _stream(
    graph: Any,
    payload: dict[str, Any] | Command[Any] | None,
    config: RunnableConfig,
    ctx: Context,
    live: LivePrinter | None,
) -> dict[str, Any]:
    """Run one turn, printing it live; return the turn's final values."""
    modes = ["values", "updates", "messages", "tasks"] if live else ["values"]
    if live:  # a heartbeat names the model reading its prompt before the first token
        config = {**config, "callbacks": [PromptWatcher(live)]}
    values: dict[str, Any] = {}
    async for mode, data in graph.astream(payload, config, context=ctx, stream_mode=modes):
        if mode == "values":
            values = data
        elif mode == "tasks" and live and "input" in data:
            live.started(str(data.get("name", "")))
        elif mode == "messages" and live:
            chunk, meta = data
            live.token(chunk, meta)
        elif mode == "updates" and live:
            _show_update(live, data)
    if live:
        live.close()
    return values


def _show_update(live: LivePrinter, update: dict[str, Any]) -> None:
    for node, value in update.items():
        value = value if isinstance(value, dict) else {}
        if node == "retrieve":
            live.language = str(value.get("language", "en"))
            passages = getattr(value.get("passages"), "value", value.get("passages")) or []
            ids = ", ".join(p["source_id"] for p in passages) or "none"
            live.note(f"sources found: {ids}")
            for warning in getattr(value.get("warnings"), "value", value.get("warnings")) or []:
                live.note(f"warning: {redact_credentials(str(warning))}")
        elif node == "facts" and value.get("facts"):
            live.note("applicability: " + facts_line(value["facts"], live.language))
        elif node == "obligations" and "requirements" in value:
            requirements = value["requirements"]
            sections = len({r["section"] for r in requirements})
            live.note(f"requirements: {len(requirements)} from the catalogue, in {sections} sections")
            for change in value.get("changes") or []:
                live.note(f"  {change['kind']} {change['number']} ({change['id']})")
        elif node == "review" and value.get("review"):
            live.note(corrected_line(value["review"]))
        elif node == "plan" and value.get("mode"):
            live.note(f"mode: {value['mode']}")
        elif node == "consult":
            for opinion in value.get("opinions", []):
                live.finished("consult", opinion["persona"])
        elif node in ("coordinator", "synthesize"):
            live.finished(node)


def facts_line(facts: dict[str, Any], language: str) -> str:
    """The facts that decide the requirements, on one line ("EU · deployer · Annex III(4) …")."""
    from agents.standard.requirements import value_label

    parts: list[str] = []
    for key in ("jurisdictions", "roles", "use_categories", "prohibited", "data", "system_kinds"):
        value = facts.get(key, {}).get("value")
        for item in value if isinstance(value, list) else []:
            parts.append(value_label(key, item, language))
    if facts.get("automated_decisions", {}).get("value"):
        parts.append("决定影响个人" if language == "zh" else "decides about people")
    return " · ".join(parts) or ("未说明" if language == "zh" else "nothing stated")


def _json_result(thread_id: str, ctx: Context, values: dict[str, Any]) -> dict[str, Any]:
    messages = values.get("messages", [])
    return {
        "thread_id": thread_id,
        "status": "done",
        "task": values.get("task", ""),
        "language": values.get("language", ""),
        "mode": values.get("mode", ""),
        "models": {p: ctx.persona_model(p) for p in PERSONA_MODEL_FIELDS},
        "report": values.get("report", ""),
        "facts": values.get("facts", {}),
        "requirements": values.get("requirements", []),
        "changes": values.get("changes", []),
        "review": values.get("review"),
        "opinions": values.get("opinions", []),
        "sources": values.get("sources", []),
        "passages": values.get("passages", []),
        "warnings": values.get("warnings", []),
        "turns": sum(1 for m in messages if isinstance(m, HumanMessage)),
        "messages": [
            {"role": "user" if isinstance(m, HumanMessage) else "assistant", "content": m.text}
            for m in messages
            if isinstance(m, HumanMessage | AIMessage)
        ],
    }


async def _main(args: argparse.Namespace) -> int:
    # None means $COUNCIL_DB, then the default file (a postgresql:// URL must stay a string).
    target = args.db
    async with open_async_checkpointer(target) as saver:
        if args.list_threads:
            return await list_threads_command(saver)
        if args.show:
            return await show_command(saver, args.show, args.db)
        task = read_task(args)
        ctx = context_from_args(args)
        # One process per thread: a second one continuing it at the same time would build on
        # the same checkpoint, and one of the two turns would be lost.
        async with hold_thread(target, args.thread_id):
            return await run_command(args, ctx, saver, task)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status. Every user error is one line on stderr."""
    hint = ""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        for warning in [*check_arguments(parser, args), *password_warnings(args)]:
            _warn(warning)
        args.thread_id = args.thread or uuid.uuid4().hex[:12]
        hint = f": thread {args.thread_id} keeps every finished turn; rerun with --thread {args.thread_id}"
        return asyncio.run(_main(args))
    except (UsageError, CheckpointerError) as exc:
        _error(exc)
        return EXIT_USAGE
    except ModelUnavailableError as exc:
        _error(exc)
        return EXIT_UNAVAILABLE
    except ValueError as exc:
        _error(exc)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\ninterrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StdoutClosed:
        # Whatever is still buffered for stdout would fail again at exit, with a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CLOSED_PIPE
    except OSError as exc:  # e.g. an unwritable --output
        _error(exc)
        return EXIT_UNAVAILABLE


def _error(exc: BaseException) -> None:
    """The one `error:` line of a failed run, without any password a URL in it held."""
    print(f"error: {redact_credentials(str(exc))}", file=sys.stderr)

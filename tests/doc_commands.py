"""The shell commands in README.md and docs/, and how each one is checked.

Shared by the unit test (every block is classified, every relative link
resolves) and the integration test (the runnable commands run). A block whose
first line is ``# needs: REASON`` needs something the tests cannot provide (a
server, Ollama, a GPU) and is skipped with that reason; every other command
must match a rule below, or classification fails, so a new command cannot
slip into the docs untested.
"""

from __future__ import annotations

import re
import shlex
import sys
import textwrap
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The venv the tests run in: in a fresh clone `make test` creates .venv, but a
# developer may run pytest from another environment, so never assume ".venv".
BIN = Path(sys.executable).parent

# Fences may be indented (a block inside a list item).
_FENCE = re.compile(r"^[ \t]*```(sh|bash|console)[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
_FENCE_ANY = re.compile(r"^[ \t]*```.*?^[ \t]*```", re.S | re.M)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_NEEDS = re.compile(r"^#\s*needs:\s*(.+)$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Programs that only shape another command's input or output in an example.
_FILTERS = {"echo", "jq", "sed"}
_BUILTINS = {"export", "source", "cd"}


def doc_files() -> list[Path]:
    """README.md and docs/*.md, without merger notes (``docs/_*.md``)."""
    docs = sorted(p for p in (ROOT / "docs").glob("*.md") if not p.name.startswith("_"))
    return [ROOT / "README.md", *docs]


@dataclass(frozen=True)
class Check:
    """One command from the docs and how it is checked.

    Attributes:
        ident: where it is (file:line) and what it is, for the test id.
        argv: what to run from the repo root, or None when nothing runs.
        env: environment assignments written before the command.
        skip: why it is not run, or "" when it runs.
    """

    ident: str
    argv: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = field(default=())
    skip: str = ""


class UnclassifiedCommand(ValueError):
    """A command in the docs matches no rule."""


def shell_blocks(path: Path) -> list[tuple[int, str]]:
    """Return each fenced sh/bash/console block as (line number, body)."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, textwrap.dedent(m.group(2))) for m in _FENCE.finditer(text)]


def _segments(line: str) -> list[list[str]]:
    """Split a command line into pipeline segments of words, dropping comments."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    segments: list[list[str]] = [[]]
    for token in lexer:
        if token in {"|", "&", ";", "&&", "||"}:
            segments.append([])
        else:
            segments[-1].append(token)
    return [s for s in segments if s]


def _check_segment(where: str, words: list[str]) -> Check:
    env = []
    while words and _ENV.match(words[0]):
        name, _, value = words[0].partition("=")
        env.append((name, value))
        words = words[1:]
    prog, args = words[0], words[1:]
    label = f"{where} {prog}"
    if prog in _BUILTINS:
        return Check(f"{label} (shell builtin)", skip="shell builtin: nothing to run")
    if prog in _FILTERS:
        return Check(f"{label} (filter)", skip="an output filter in an example")
    if prog == "make":
        return Check(f"{label} -n", ("make", "-n", *args), tuple(env))
    if prog == "python3":
        return Check(f"{label} --help", (sys.executable, *args, "--help"), tuple(env))
    if prog.startswith(".venv/bin/"):
        exe = str(BIN / prog.removeprefix(".venv/bin/"))
        if args[:1] == ["-m"]:
            label += f" -m {args[1]}"
        return Check(f"{label} --help", (exe, *args, "--help"), tuple(env))
    raise UnclassifiedCommand(f"{where}: no rule for {' '.join(words)!r}")


def checks(path: Path) -> list[Check]:
    """Classify every command in one file's shell blocks.

    Raises:
        UnclassifiedCommand: a command matches no rule.
    """
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    out: list[Check] = []
    for lineno, body in shell_blocks(path):
        first = body.lstrip().splitlines()[0] if body.strip() else ""
        needs = _NEEDS.match(first)
        if needs:
            out.append(Check(f"{rel}:{lineno} block", skip=f"needs {needs.group(1)}"))
            continue
        for offset, line in enumerate(body.replace("\\\n", " ").splitlines()):
            for words in _segments(line):
                out.append(_check_segment(f"{rel}:{lineno + offset}", words))
    return out


def anchors(path: Path) -> set[str]:
    """Return the GitHub anchors of a Markdown file's headings (``## A b`` → ``a-b``)."""
    text = _FENCE_ANY.sub("", path.read_text(encoding="utf-8"))
    heads = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def broken_links(path: Path, pending: Collection[Path] = ()) -> list[str]:
    """Return the relative links in a Markdown file whose file or heading is missing.

    Args:
        path: the Markdown file.
        pending: files not written yet that links may already name.
    """
    broken = []
    for target, resolved in relative_links(path):
        if resolved in pending:
            continue
        anchor = target.partition("#")[2]
        if not resolved.exists() or (anchor and resolved.suffix == ".md" and anchor not in anchors(resolved)):
            broken.append(target)
    return broken


def relative_links(path: Path) -> list[tuple[str, Path]]:
    """Return each relative link target in a Markdown file and the path it names."""
    text = _FENCE_ANY.sub("", path.read_text(encoding="utf-8"))
    targets = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:|^#", target):
            continue
        targets.append((target, (path.parent / target.split("#")[0]).resolve()))
    return targets

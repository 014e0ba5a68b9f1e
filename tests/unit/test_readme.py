"""README.md and docs/: every shell command is classified, every relative link resolves."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.doc_commands import ROOT, UnclassifiedCommand, broken_links, checks, doc_files


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shell_command_is_classified(path: Path) -> None:
    found = checks(path)  # raises UnclassifiedCommand on a command without a rule
    for check in found:
        assert check.argv is not None or check.skip, check.ident


def test_an_unknown_program_is_not_classified(tmp_path: Path) -> None:
    doc = tmp_path / "probe.md"
    doc.write_text("```bash\nrm -rf build\n```\n", encoding="utf-8")
    with pytest.raises(UnclassifiedCommand, match="rm -rf build"):
        checks(doc)


def test_a_block_indented_in_a_list_is_found(tmp_path: Path) -> None:
    doc = tmp_path / "probe.md"
    doc.write_text("- item:\n\n  ```bash\n  rm -rf build\n  ```\n", encoding="utf-8")
    with pytest.raises(UnclassifiedCommand, match=r"probe\.md:4"):
        checks(doc)


def test_a_needs_marker_skips_its_block_with_the_reason(tmp_path: Path) -> None:
    doc = tmp_path / "probe.md"
    doc.write_text("```sh\n# needs: a GPU\nnvidia-smi\n```\n", encoding="utf-8")
    [check] = checks(doc)
    assert check.argv is None and check.skip == "needs a GPU"


def test_venv_commands_run_from_the_running_interpreter_folder(tmp_path: Path) -> None:
    doc = tmp_path / "probe.md"
    doc.write_text(
        "```bash\nHF_HUB_OFFLINE=1 .venv/bin/python -m graphs.compliance - | jq .\nmake run TASK=x\n```\n",
        encoding="utf-8",
    )
    cli, jq, make = checks(doc)
    assert cli.argv == (
        sys.executable.rsplit("/", 1)[0] + "/python",
        "-m",
        "graphs.compliance",
        "-",
        "--help",
    )
    assert cli.env == (("HF_HUB_OFFLINE", "1"),)
    assert jq.argv is None and jq.skip
    assert make.argv == ("make", "-n", "run", "TASK=x")


def test_a_broken_link_or_heading_is_found(tmp_path: Path) -> None:
    doc = tmp_path / "probe.md"
    doc.write_text(
        "## Two words\n[ok](probe.md#two-words) [web](https://x.org) [top](#x)"
        " [gone](nope.md) [no heading](probe.md#three)\n",
        encoding="utf-8",
    )
    assert broken_links(doc) == ["nope.md", "probe.md#three"]


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    broken = broken_links(path)
    assert not broken, f"{path.name}: broken links {broken}"

"""Assemble the standard as Markdown: assumptions, numbered requirements, the council's gated prose.

The substance comes from the facts and the obligation catalogue, so the
standard is right on any model, large or small: every
requirement names its instrument and article, cites its passage and says
why it applies. Model prose — the coordinator's overview and the experts'
points — passes the quality gate (`agents.standard.gate`) line by line; what
passes is added, marked as the council's, under the requirement it names or
the section it fits; what fails stays in the appendix with the reason.

One module per job: `text` (labels, clipping, Markdown escaping), `council`
(the council's prose through the gate, placed by requirement or section),
`questions` (what the reader must still check), `markdown` (rendering the
parts) and `build` (`build_report`, composing them).
"""

from __future__ import annotations

from agents.report.build import SECTIONS, Report, build_report
from agents.report.council import section_for_text
from agents.report.text import TITLE_CHARS, clip, escape, escape_prose, labels

__all__ = [
    "SECTIONS",
    "TITLE_CHARS",
    "Report",
    "build_report",
    "clip",
    "escape",
    "escape_prose",
    "labels",
    "section_for_text",
]

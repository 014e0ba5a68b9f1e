"""The obligation catalogue: one TOML file per instrument, beside the corpus notes.

``tools/corpus/obligations/<instrument id>.toml``::

    [instrument]
    id = "eu-ai-act"                      # the corpus note's id
    name = "EU AI Act"
    name_zh = "欧盟《人工智能法》"
    aliases = ["AI Act", "Regulation (EU) 2024/1689", "人工智能法"]
    binding = "law"                       # "law" or "framework" (voluntary)
    reflects = "Regulation (EU) 2024/1689 as published in the OJ on 12 July 2024 …"
    reflects_zh = "……"

    [[obligation]]
    id = "eu-ai-act.art-14.oversight-design"
    article = "Art. 14(1)-(4)"            # what a lawyer cites
    passage = "eu-ai-act:art-14"          # the corpus passage it rests on
    roles = ["provider"]                  # who must do it; [] = whoever runs the system
    section = "oversight"                 # the report section it belongs to
    when = { all = ["eu", "high_risk"] }  # tags that must all / any / none be present
    level = "baseline"                    # "baseline", or "strict": beyond the minimum, on request
    tightens = ""                         # for a strict entry: the baseline id it replaces
    topics = ["oversight"]                # what a follow-up may ask to tighten
    shall_en = "The provider shall …"
    shall_zh = "提供者应……"

Conditions are over the tags of `tools.catalogue.vocabulary`; the loader
rejects a tag no fact produces, a passage that is not in the corpus, a section
the report does not have, and a missing language, so a mistake in the data
fails the tests instead of silently dropping a requirement.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from tools.catalogue.vocabulary import ROLES, all_tags
from tools.retrieval.corpus import CORPUS_DIR, parse_note_file

#: The catalogue files shipped in the package.
CATALOGUE_DIR = CORPUS_DIR / "obligations"
#: Report sections an obligation can belong to (the report adds scope text, open questions, references).
SECTIONS: tuple[str, ...] = (
    "scope",
    "risk",
    "governance",
    "data",
    "technical",
    "transparency",
    "oversight",
    "testing",
    "incident",
)
#: What a follow-up can ask to tighten ("make the privacy part stricter" -> data).
TOPICS: tuple[str, ...] = (
    "data",
    "security",
    "oversight",
    "transparency",
    "testing",
    "fairness",
    "incident",
    "governance",
    "content",
)
LEVELS = ("baseline", "strict")
BINDING = ("law", "framework")


class CatalogueError(ValueError):
    """A catalogue file that does not follow the schema (names the file and the entry)."""


@dataclass(frozen=True)
class Condition:
    """When an obligation applies: every `all` tag, at least one `any` tag, no `none` tag."""

    all: frozenset[str] = frozenset()
    any: frozenset[str] = frozenset()
    none: frozenset[str] = frozenset()

    def holds(self, tags: Iterable[str]) -> bool:
        """Whether the condition is met by a task with `tags`."""
        have = set(tags)
        return self.all <= have and (not self.any or bool(self.any & have)) and not (self.none & have)

    def tags(self) -> frozenset[str]:
        """Every tag the condition names."""
        return self.all | self.any | self.none


@dataclass(frozen=True)
class Instrument:
    """A law or framework, with which text and date the catalogue reflects."""

    id: str
    name: str
    name_zh: str
    aliases: tuple[str, ...]
    binding: str
    reflects: str
    reflects_zh: str
    title: str = ""
    url: str | None = None

    def display(self, language: str) -> str:
        """The instrument's short name in `language`."""
        return self.name_zh if language == "zh" and self.name_zh else self.name


@dataclass(frozen=True)
class Obligation:
    """One requirement the standard can carry, traceable to its article and passage."""

    id: str
    instrument: str
    article: str
    passage: str
    roles: tuple[str, ...]
    section: str
    when: Condition
    level: str
    tightens: str
    topics: tuple[str, ...]
    shall_en: str
    shall_zh: str

    def shall(self, language: str) -> str:
        """The normative statement in `language`."""
        return self.shall_zh if language == "zh" else self.shall_en


@dataclass
class Catalogue:
    """Every instrument and obligation, in file order."""

    instruments: dict[str, Instrument] = field(default_factory=dict)
    obligations: list[Obligation] = field(default_factory=list)

    def by_id(self) -> dict[str, Obligation]:
        """Obligations by id."""
        return {o.id: o for o in self.obligations}


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CatalogueError(f"{where}: '{name}' must be a list of strings")
    return tuple(value)


def _text(entry: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str:
    value = entry.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise CatalogueError(f"{where}: '{name}' must be a non-empty string")
    return " ".join(value.split())


def _condition(raw: Any, where: str, known: frozenset[str]) -> Condition:
    if not isinstance(raw, Mapping) or not raw or set(raw) - {"all", "any", "none"}:
        raise CatalogueError(f"{where}: 'when' must be a table with 'all', 'any' and/or 'none' lists")
    parts = {k: frozenset(_strings(v, where, f"when.{k}")) for k, v in raw.items()}
    condition = Condition(**parts)
    unknown = sorted(condition.tags() - known)
    if unknown:
        raise CatalogueError(f"{where}: unknown tag(s) in 'when': {', '.join(unknown)}")
    if not condition.all and not condition.any:
        raise CatalogueError(f"{where}: 'when' needs at least one 'all' or 'any' tag")
    return condition


def parse_catalogue_file(path: Path, passages: Mapping[str, Any] | None = None) -> Catalogue:
    """Read and check one catalogue file.

    Args:
        path: A ``.toml`` file in the schema above.
        passages: Corpus passages by source id, to check each obligation's
            ``passage``; None skips that check.

    Raises:
        CatalogueError: naming the file and entry that break the schema.
    """
    name = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"{name}: cannot read ({exc})") from None
    head = data.get("instrument")
    if not isinstance(head, Mapping):
        raise CatalogueError(f"{name}: no [instrument] table")
    binding = _text(head, "binding", name)
    if binding not in BINDING:
        raise CatalogueError(f"{name}: 'binding' must be one of {', '.join(BINDING)}")
    instrument = Instrument(
        id=_text(head, "id", name),
        name=_text(head, "name", name),
        name_zh=_text(head, "name_zh", name),
        aliases=_strings(head.get("aliases", []), name, "aliases"),
        binding=binding,
        reflects=_text(head, "reflects", name),
        reflects_zh=_text(head, "reflects_zh", name),
    )
    if path.stem != instrument.id:
        raise CatalogueError(f"{name}: the file must be named after its instrument id ({instrument.id})")
    out = Catalogue(instruments={instrument.id: instrument})
    known = all_tags()
    entries = data.get("obligation", [])
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(f"{name}: no [[obligation]] entries")
    seen: set[str] = set()
    for i, entry in enumerate(entries, 1):
        where = f"{name} obligation {entry.get('id') or f'#{i}'}"
        oid = _text(entry, "id", where)
        if oid in seen:
            raise CatalogueError(f"{where}: duplicate id")
        if not oid.startswith(instrument.id + "."):
            raise CatalogueError(f"{where}: the id must start with '{instrument.id}.'")
        seen.add(oid)
        roles = _strings(entry.get("roles", []), where, "roles") if entry.get("roles") else ()
        if set(roles) - set(ROLES):
            raise CatalogueError(f"{where}: unknown role(s) {sorted(set(roles) - set(ROLES))}")
        section = _text(entry, "section", where)
        if section not in SECTIONS:
            raise CatalogueError(f"{where}: section {section!r} is not one of {', '.join(SECTIONS)}")
        level = _text(entry, "level", where, required=False) or "baseline"
        if level not in LEVELS:
            raise CatalogueError(f"{where}: level must be baseline or strict")
        topics = _strings(entry.get("topics", []), where, "topics") if entry.get("topics") else ()
        if set(topics) - set(TOPICS):
            raise CatalogueError(f"{where}: unknown topic(s) {sorted(set(topics) - set(TOPICS))}")
        passage = _text(entry, "passage", where)
        if not passage.startswith(instrument.id + ":"):
            raise CatalogueError(f"{where}: passage {passage!r} is not a section of {instrument.id}")
        if passages is not None and passage not in passages:
            raise CatalogueError(f"{where}: passage {passage!r} is not in the corpus")
        tightens = _text(entry, "tightens", where, required=False)
        if level == "strict" and not topics:
            raise CatalogueError(f"{where}: a strict entry needs the topics a follow-up tightens")
        out.obligations.append(
            Obligation(
                id=oid,
                instrument=instrument.id,
                article=_text(entry, "article", where),
                passage=passage,
                roles=roles,
                section=section,
                when=_condition(entry.get("when"), where, known),
                level=level,
                tightens=tightens,
                topics=topics,
                shall_en=_text(entry, "shall_en", where),
                shall_zh=_text(entry, "shall_zh", where),
            )
        )
    return out


@cache
def corpus_passages(corpus_dir: Path = CORPUS_DIR) -> dict[str, Any]:
    """The bundled corpus passages by source id (parsed from the notes once; do not modify)."""
    out: dict[str, Any] = {}
    for path in sorted(corpus_dir.glob("*.md")):
        if path.name.startswith((".", "_")) or path.name.lower() == "readme.md":
            continue
        for chunk in parse_note_file(path).chunks:
            out[chunk.passage.source_id] = chunk.passage
    return out


@cache
def passage_titles_zh(corpus_dir: Path = CORPUS_DIR) -> dict[str, str]:
    """The Chinese title of each corpus passage ("eu-ai-act:art-14" -> "人工监督"), from the note headings."""
    out: dict[str, str] = {}
    for path in sorted(corpus_dir.glob("*.md")):
        note = parse_note_file(path)
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("## "):
                fields = [f.strip() for f in line[3:].split("|")]
                if len(fields) > 3 and fields[3]:
                    out[f"{note.id}:{fields[0].lower()}"] = fields[3]
    return out


def load_catalogue_dir(directory: Path, corpus_dir: Path = CORPUS_DIR) -> Catalogue:
    """Load and check every catalogue file in `directory` against the notes in `corpus_dir`.

    Raises:
        CatalogueError: for the first file or entry that breaks the schema, or a
            ``tightens`` that names no baseline entry.
    """
    passages = corpus_passages(corpus_dir)
    notes = _note_titles(corpus_dir)
    out = Catalogue()
    for path in sorted(directory.glob("*.toml")):
        part = parse_catalogue_file(path, passages)
        for iid, instrument in part.instruments.items():
            if iid in out.instruments:
                raise CatalogueError(f"{path.name}: instrument {iid} is defined twice")
            title, url = notes.get(iid, ("", None))
            if not title:
                raise CatalogueError(f"{path.name}: no corpus note has id {iid}")
            out.instruments[iid] = Instrument(**{**instrument.__dict__, "title": title, "url": url})
        out.obligations.extend(part.obligations)
    ids = out.by_id()
    if len(ids) != len(out.obligations):
        raise CatalogueError("an obligation id is used in two files")
    for o in out.obligations:
        if o.tightens and (o.tightens not in ids or ids[o.tightens].level != "baseline"):
            raise CatalogueError(f"{o.id}: 'tightens' names no baseline obligation ({o.tightens})")
    return out


def _note_titles(corpus_dir: Path) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    for path in sorted(corpus_dir.glob("*.md")):
        if path.name.startswith((".", "_")) or path.name.lower() == "readme.md":
            continue
        note = parse_note_file(path)
        out[note.id] = (note.title, note.url)
    return out


@cache
def load_catalogue() -> Catalogue:
    """The bundled catalogue (loaded and checked once per process)."""
    return load_catalogue_dir(CATALOGUE_DIR)

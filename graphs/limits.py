"""What a run on the server may choose: the operator's allow-lists for files, URLs and models.

A served run's context comes from an HTTP caller. Settings that reach the
filesystem, the network or model loading are the operator's: a run may only
pick among values the operator allowed, and anything else is refused before
any work, with an error that names the field. The CLI and embedding apps run
as their user and are not limited (`build_graph(limits=None)`).

Operator settings (environment):

* ``COUNCIL_ALLOWED_MODELS``: model specs a run may name (comma-separated), on top
  of the operator's own defaults (``COUNCIL_MODEL`` and the per-persona models).
* ``COUNCIL_DOC_COLLECTIONS``: named document folders, ``policies=/srv/policies,hr=/srv/hr``.
  A run chooses its documents by name (``"docs_dir": "policies"``); the operator's
  ``COUNCIL_DOCS_DIR`` is always allowed. Names work in the CLI too.
* ``COUNCIL_ALLOWED_EXPERTS_URLS``: experts servers a run may name, on top of
  ``COUNCIL_EXPERTS_URL``.
* ``COUNCIL_ALLOWED_OPENAI_BASE_URLS``: OpenAI-compatible servers a run may name as
  ``openai_base_url``, on top of ``COUNCIL_OPENAI_BASE_URL``.
* ``index_dir`` is never a run's choice on the server: it stays ``COUNCIL_INDEX_DIR``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agents.models.errors import redact_credentials
from graphs.context import PERSONA_MODEL_FIELDS, Context
from tools.retrieval.settings import doc_collections
from tools.settings_registry import BY_NAME


class RunRefused(ValueError):
    """A served run asked for a setting the operator did not allow; the message names the field."""


def _items(setting: str) -> list[str]:
    """The comma-separated entries of the process setting `setting`."""
    raw: str = BY_NAME[setting].from_env()
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class RunLimits:
    """The values a served run may choose for the settings that reach beyond the process."""

    models: frozenset[str]
    collections: Mapping[str, str] = field(default_factory=dict)
    docs_dir: str = ""
    index_dir: str = ""
    experts_urls: frozenset[str] = frozenset()
    openai_base_urls: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls) -> RunLimits:
        """The operator's allow-lists, with the operator's own defaults (`Context()`) always allowed."""
        defaults = Context()
        own = {defaults.model, *(getattr(defaults, f) for f in PERSONA_MODEL_FIELDS.values())}
        return cls(
            models=frozenset(m for m in own | set(_items("allowed_models")) if m),
            collections=doc_collections(),
            docs_dir=defaults.docs_dir,
            index_dir=defaults.index_dir,
            experts_urls=frozenset(u for u in {defaults.experts_url, *_items("allowed_experts_urls")} if u),
            openai_base_urls=frozenset(
                u for u in {defaults.openai_base_url.strip(), *_items("allowed_openai_base_urls")} if u
            ),
        )

    def check(self, ctx: Context) -> None:
        """Refuse `ctx` if it names a model, folder or URL the operator did not allow.

        Raises:
            RunRefused: Naming the first field that is not allowed and what is.
        """
        for name in ("model", *PERSONA_MODEL_FIELDS.values()):
            value = getattr(ctx, name)
            if value and value not in self.models:
                allowed = _listed(self.models)
                raise RunRefused(f"{name}: {value!r} is not allowed on this server (allowed: {allowed})")
        docs = ctx.docs_dir.strip()
        if docs and docs != self.docs_dir and docs not in self.collections:
            names = ", ".join(sorted(self.collections)) or "none are configured"
            raise RunRefused(
                f"docs_dir: {docs!r} is not a document collection of this server (choose one of: {names})"
            )
        if _norm(ctx.index_dir) != _norm(self.index_dir):
            raise RunRefused("index_dir: is set by the server's operator, not by a run")
        url = ctx.experts_url.strip()
        if url and url not in self.experts_urls:
            raise RunRefused(
                f"experts_url: {url!r} is not allowed on this server (allowed: {_listed(self.experts_urls)})"
            )
        # An empty value means the built-in local default, which only the operator's own host serves.
        base = ctx.openai_base_url.strip()
        if base and base not in self.openai_base_urls:
            raise RunRefused(
                f"openai_base_url: {redact_credentials(base)!r} is not allowed on this server "
                f"(allowed: {redact_credentials(_listed(self.openai_base_urls))})"
            )


def _listed(values: frozenset[str]) -> str:
    return ", ".join(sorted(values)) if values else "none"


def _norm(path: str) -> str:
    return str(Path(path).expanduser().resolve()) if path.strip() else ""

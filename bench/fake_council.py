"""The council graph on an instant fake model and a fixed retriever, for measuring the server alone.

`bench/server.py` serves this module's `graph` with `langgraph dev` to measure
what the HTTP API, the run queue and the checkpoints cost per run, with no
model time in the way. It is the real `build_graph()` — the same nodes, fan-out
and report assembly — with the two seams the unit tests patch
(``agents.council.model_for`` and ``graphs.compliance.get_retriever``) pointed
at the same fakes (tests/unit/council_fakes.py). Never import this module in
the app itself: the patches are process-wide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

import agents.council
import graphs.compliance
from tests.unit.council_fakes import FakeRetriever, ScriptedChatModel

#: Answers at once (a few streamed tokens per reply), never calls tools, records nothing.
_MODEL = ScriptedChatModel(record=False)
_RETRIEVER = FakeRetriever()


def _model_for(spec: str, options: Mapping[str, Any]) -> BaseChatModel:
    return _MODEL


def _get_retriever(settings: Any) -> Any:
    return _RETRIEVER


agents.council.model_for = _model_for
graphs.compliance.get_retriever = _get_retriever  # type: ignore[assignment]  # duck-typed stand-in

#: The council on the fakes, for `langgraph dev` (its config is written by bench/server.py).
graph = graphs.compliance.build_graph()

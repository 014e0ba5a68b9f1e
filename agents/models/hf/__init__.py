"""The `hf/` backend: transformers models in this process, shared and batched."""

from agents.models.hf.chat_model import EMBEDDED_MODEL, ChatLocalHF, resolve_model_path

__all__ = ["EMBEDDED_MODEL", "ChatLocalHF", "resolve_model_path"]

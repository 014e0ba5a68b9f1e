"""The chat-model layer: one factory, two backends (transformers and Ollama)."""

from agents.models.errors import ModelUnavailableError
from agents.models.factory import default_model_spec, load_chat_model, parse_model_spec
from agents.models.options import ModelOptions

__all__ = [
    "ModelOptions",
    "ModelUnavailableError",
    "default_model_spec",
    "load_chat_model",
    "parse_model_spec",
]

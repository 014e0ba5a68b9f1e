"""Persona agents and the chat-model layer they run on."""

from agents.models import ModelOptions, ModelUnavailableError, load_chat_model

__all__ = ["ModelOptions", "ModelUnavailableError", "load_chat_model"]

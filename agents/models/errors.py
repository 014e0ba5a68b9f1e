"""Errors of the model layer that a user can cause and fix."""

from __future__ import annotations


class ModelUnavailableError(RuntimeError):
    """A model cannot be reached or loaded; the message says what to do.

    Raised for an Ollama server that is not listening, a model that is not
    pulled, or a local model folder that does not exist. The message is one
    line, fit to print as-is in a CLI.
    """

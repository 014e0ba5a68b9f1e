"""Errors a user can cause with retrieval settings, as exceptions with one clear message each."""

from __future__ import annotations

from pathlib import Path


class DocsDirNotFoundError(ValueError):
    """The configured documents directory does not exist or is not a directory.

    A `ValueError` so that callers treating bad settings uniformly (the CLI's
    one-line errors, the tool's error results) need no special case.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"documents directory not found: {path} "
            "(set COUNCIL_DOCS_DIR or the docs_dir setting to an existing folder, or unset it)"
        )


class EmptyQueryError(ValueError):
    """A search query that is empty or only whitespace."""

    def __init__(self) -> None:
        super().__init__("empty query: give some words to search for")

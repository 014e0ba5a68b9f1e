"""Errors of the model layer that a user can cause and fix, and keeping secrets out of their messages."""

from __future__ import annotations

import re


class ModelUnavailableError(RuntimeError):
    """A model cannot be reached or loaded; the message says what to do.

    Raised for an Ollama server that is not listening, a model that is not
    pulled, or a local model folder that does not exist. The message is one
    line, fit to print as-is in a CLI.
    """


# ``scheme://user:password@host``: the password is the shortest run of non-space characters
# after the first ':' of the user info that is followed by '@' and then a host with no '@' in
# it, so a password holding an unencoded '@' or '/' is masked whole, and an '@' later in the
# path or query (``?to=a@b``) is not taken for the end of the user info.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@]*:)(?P<password>\S*?)@(?=[^\s@/?#]*(?:[/?#\s]|$))"
)
# ``password=...`` in a URL query or a libpq conninfo string.
_PASSWORD_PARAM = re.compile(r"(?i)\b(?P<key>password|passwd|pwd)=(?P<value>[^\s&;'\"]+)")


def redact_credentials(text: str) -> str:
    """`text` with every URL password (and ``password=`` parameter) replaced by ``***``.

    The one helper every error and warning line that can show a URL goes through
    (the thread database, the experts server, the CLI's own messages), so a
    password given in a URL is never printed back.

    Example:
        >>> redact_credentials("cannot reach http://ann:s3cret@host:2024/ok")
        'cannot reach http://ann:***@host:2024/ok'

    Args:
        text: Any text, e.g. an exception message that may quote a URL.

    Returns:
        The text with passwords masked; the user name, host and path are kept.
    """
    text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    return _PASSWORD_PARAM.sub(r"\g<key>=***", text)

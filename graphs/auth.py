"""Who may call the LangGraph server, and what each caller sees (`langgraph.json` ``auth.path``).

The operator lists API keys, one per user, in ``$COUNCIL_API_KEYS``
(``alice=key1,bob=key2``) or in a file named by ``$COUNCIL_API_KEYS_FILE`` (one
``user=key`` per line, ``#`` comments). A request must carry one, as
``Authorization: Bearer <key>`` or ``X-Api-Key: <key>``; without a valid one it
gets 401. Every thread, run and cron a user creates is stamped with their
name, and every read, search and run is filtered to it, so user B gets 404
for user A's thread. Assistants: everyone sees the three graphs the server
serves; assistants a user creates are theirs alone.

With no keys configured the server stays open — meant for ``langgraph dev``
on 127.0.0.1 — and says so in its log when it starts.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any

from langgraph_sdk import Auth

from tools.settings_registry import BY_NAME

logger = logging.getLogger(__name__)

KEYS_ENV = BY_NAME["api_keys"].env
KEYS_FILE_ENV = BY_NAME["api_keys_file"].env
#: The caller's identity when no keys are configured (an open, local server).
OPEN_USER = "local"


class KeyConfigError(ValueError):
    """The operator's key list cannot be read; the message names the setting and the line."""


def parse_keys(text: str, where: str) -> dict[str, str]:
    """``user=key`` entries (comma or newline separated) as key -> user.

    Raises:
        KeyConfigError: An entry without ``=``, an empty user or key, or a key given twice.
    """
    keys: dict[str, str] = {}
    entries = [e.strip() for line in text.splitlines() for e in line.split("#", 1)[0].split(",")]
    for n, entry in enumerate((e for e in entries if e), 1):
        user, sep, key = (part.strip() for part in entry.partition("="))
        if not sep or not user or not key:
            raise KeyConfigError(f"{where}: entry {n} is not 'user=key'")
        if key in keys:
            raise KeyConfigError(f"{where}: entry {n} repeats a key given to {keys[key]!r}")
        keys[key] = user
    return keys


def load_keys(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The configured keys (key -> user), from the environment or the key file; {} when open."""
    keys: dict[str, str] = {}
    path = BY_NAME["api_keys_file"].from_env(environ)
    if path:
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyConfigError(f"${KEYS_FILE_ENV}: cannot read {path}: {exc.strerror or exc}") from None
        keys.update(parse_keys(text, f"${KEYS_FILE_ENV}"))
    keys.update(parse_keys(BY_NAME["api_keys"].from_env(environ), f"${KEYS_ENV}"))
    return keys


def presented_key(authorization: str | None, headers: dict[bytes, bytes]) -> str:
    """The key a request carries: a bearer token, or the X-Api-Key header."""
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    raw = headers.get(b"x-api-key", b"")
    return raw.decode("latin-1").strip()


def user_for(key: str, keys: dict[str, str]) -> str | None:
    """The user a key belongs to, compared in constant time against every configured key."""
    found = None
    for known, user in keys.items():
        if hmac.compare_digest(known.encode(), key.encode()):
            found = user
    return found


KEYS = load_keys()
if not KEYS:
    logger.warning(
        "no API keys configured ($%s / $%s): this server is OPEN to anyone who can reach it, "
        "and every caller shares one identity; fine for langgraph dev on 127.0.0.1 only",
        KEYS_ENV,
        KEYS_FILE_ENV,
    )

auth = Auth()


@auth.authenticate
async def authenticate(authorization: str | None, headers: dict[bytes, bytes]) -> Auth.types.MinimalUserDict:
    """Accept a configured key (or anyone, when none is configured); 401 otherwise."""
    if not KEYS:
        return {"identity": OPEN_USER}
    key = presented_key(authorization, headers)
    user = user_for(key, KEYS) if key else None
    if user is None:
        raise Auth.exceptions.HTTPException(
            status_code=401,
            detail="missing or invalid API key: send 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'",
        )
    return {"identity": user}


def _stamp(ctx: Auth.types.AuthContext, value: Any) -> None:
    # A resource being created or updated carries its owner in its metadata.
    if isinstance(value, dict) and ctx.action in ("create", "update", "create_run"):
        metadata = value.get("metadata")
        if not isinstance(metadata, dict):
            metadata = value["metadata"] = {}
        metadata["owner"] = ctx.user.identity


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType:
    """Threads, runs and crons: stamped with their owner, and filtered to them."""
    _stamp(ctx, value)
    return {"owner": ctx.user.identity}


@auth.on.assistants
async def assistants(ctx: Auth.types.AuthContext, value: Any) -> dict[str, Any]:
    """The served graphs' assistants are everyone's to read; the rest belong to their creator."""
    _stamp(ctx, value)
    if ctx.action in ("read", "search"):
        return {"$or": [{"owner": ctx.user.identity}, {"created_by": "system"}]}
    return {"owner": ctx.user.identity}


@auth.on.store
async def own_namespace(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """The long-term store: each user reads and writes under a namespace that starts with their name."""
    namespace = value.get("namespace") if isinstance(value, dict) else None
    return isinstance(namespace, list | tuple) and bool(namespace) and namespace[0] == ctx.user.identity

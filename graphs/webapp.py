"""What the council adds to the LangGraph server (`langgraph.json` ``http.app``).

One rule the server does not keep by itself: a run that resumes a thread
(``command.resume``) needs a thread that is paused. LangGraph treats a resume
with nothing pending as a no-op that still "succeeds", so a reviewer who
answers twice, or answers a thread that never paused, would hear nothing
back; here they get ``409`` and one line saying why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: POST /threads/{id}/runs, …/runs/stream, …/runs/wait: the calls that can carry a resume.
_THREAD_RUN = re.compile(r"^/threads/([^/]+)/runs(?:/stream|/wait)?/?$")
#: Largest run request the guard reads (a resume is small; anything else passes untouched).
_MAX_BODY = 4 * 1024 * 1024


class ResumeNeedsPause:
    """ASGI middleware: refuse ``command.resume`` on a thread that is not interrupted (409)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass every request on, except a resume of a thread that is not paused."""
        match = _THREAD_RUN.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)

        async def replay() -> Message:
            # The server reads the same body the guard read, then the live channel.
            return messages.pop(0) if messages else await receive()

        if body is not None and _resumes(body):
            thread_id = match.group(1)
            status = await _thread_status(thread_id, scope)
            if status is not None and status != "interrupted":
                detail = (
                    f"thread {thread_id} is not paused (status: {status}): there is nothing to resume; "
                    "send a new message instead"
                )
                await JSONResponse({"detail": detail}, status_code=409)(scope, replay, send)
                return
        await self.app(scope, replay, send)


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages as read, and its body (None when over the size the guard reads)."""
    messages: list[Message] = []
    size = 0
    more = True
    while more:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        more = bool(message.get("more_body")) and message.get("type") == "http.request"
        if size > _MAX_BODY:
            return messages, None
    return messages, b"".join(m.get("body", b"") for m in messages)


def _resumes(body: bytes) -> bool:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return False  # the server answers a malformed body itself
    command = payload.get("command") if isinstance(payload, dict) else None
    return isinstance(command, dict) and command.get("resume") is not None


async def _thread_status(thread_id: str, scope: Scope) -> str | None:
    """The thread's status through the server's own API (in-process), if the caller owns it.

    None for a thread that does not exist or belongs to someone else: the server
    then gives its own answer (404), and the caller learns nothing about it.
    """
    from langgraph_sdk import get_client

    client = get_client()  # no URL: the server this runs in (an internal call)
    try:
        thread: Any = await client.threads.get(thread_id)
    except Exception:
        return None
    # `auth_first` (langgraph.json) runs the auth handler before this middleware.
    caller = getattr(scope.get("user"), "identity", None)
    owner = (thread.get("metadata") or {}).get("owner")
    if owner is not None and owner != caller:
        return None
    return str(thread.get("status", "")) or None


#: The app `langgraph.json` names; the server merges its routes and middleware into its own.
app = Starlette(middleware=[Middleware(ResumeNeedsPause)])

"""Who may use the dashboard, and proof that a POST came from its own pages.

The dashboard is closed by default: a queue's arguments and errors often hold personal data, and its
buttons delete jobs. It opens when it is given credentials (``GOOD_JOB_DASHBOARD_USERNAME`` and
``GOOD_JOB_DASHBOARD_PASSWORD``, or ``auth=("user", "password")``), any Starlette authentication
middleware, a predicate on the request, or, for local development only, ``allow_unauthenticated``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["AUTHENTICATED", "AccessGate", "BasicAuthMiddleware", "Csrf", "Predicate"]

#: Set in the ASGI scope by :class:`BasicAuthMiddleware` (also when it wraps the dashboard from the
#: outside), so that the closed-by-default gate knows someone checked the credentials.
AUTHENTICATED = "goodjob.dashboard.authenticated"

Predicate = Callable[[Request], bool | Awaitable[bool]]


class BasicAuthMiddleware:
    """HTTP basic authentication against one username and password (Rack::Auth::Basic's role).

    Both values are compared in constant time, together, so the response time tells an attacker
    neither which part was wrong nor how much of it matched. Use it over HTTPS only: basic auth sends
    the password with every request.
    """

    def __init__(self, app: ASGIApp, username: str, password: str, realm: str = "GoodJob") -> None:
        if not username or not password:
            raise ValueError("BasicAuthMiddleware needs a non-empty username and password")
        self.app = app
        self._username = username.encode("utf-8")
        self._password = password.encode("utf-8")
        self._challenge = f'Basic realm="{realm}", charset="UTF-8"'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if self.check(_header(scope, b"authorization")):
            scope[AUTHENTICATED] = True
            await self.app(scope, receive, send)
            return
        response = HTMLResponse(
            "<!doctype html><title>Authentication required</title><h1>Authentication required</h1>"
            "<p>Sign in with the dashboard's username and password.</p>",
            status_code=401, headers={"WWW-Authenticate": self._challenge, "Cache-Control": "no-store"},
        )
        await response(scope, receive, send)

    def check(self, authorization: str | None) -> bool:
        """True if an ``Authorization`` header carries the expected credentials."""
        if not authorization:
            return False
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        username, sep, password = decoded.partition(b":")
        # Both comparisons always run: `&` does not short-circuit.
        same_user = hmac.compare_digest(username, self._username)
        same_password = hmac.compare_digest(password, self._password)
        return bool(sep) & same_user & same_password


class AccessGate:
    """The innermost check: refuses every request (403 with a page that says how to configure
    access) unless the dashboard was given a way to authenticate, or was opened on purpose.

    ``open`` is True when authentication middleware sits in front of the gate (or none is wanted);
    ``predicate`` decides per request otherwise. Static assets are always served: they are the
    package's own CSS and JS, and the 403 page uses them.
    """

    def __init__(
        self, app: ASGIApp, *, open: bool, predicate: Predicate | None,
        refuse: Callable[[Request, str], Awaitable[Response]],
    ) -> None:
        self.app = app
        self.open = open
        self.predicate = predicate
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.open or scope.get(AUTHENTICATED) or _is_static(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if self.predicate is None:
            response = await self.refuse(request, "unconfigured")
        else:
            allowed = self.predicate(request)
            if inspect.isawaitable(allowed):
                allowed = await allowed
            if allowed:
                await self.app(scope, receive, send)
                return
            response = await self.refuse(request, "denied")
        await response(scope, receive, send)


class Csrf:
    """Per-session CSRF tokens: a random secret kept in the signed session cookie, handed to forms
    signed and timestamped (itsdangerous), and checked on every POST.

    A token from another session, another dashboard secret, or older than ``max_age`` fails.
    """

    def __init__(self, secret_key: str, *, max_age: int = 12 * 3600) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="goodjob-dashboard-csrf")
        self._max_age = max_age

    def token(self, session: MutableMapping[str, Any]) -> str:
        value = session.get("csrf")
        if not isinstance(value, str):
            value = session["csrf"] = secrets.token_urlsafe(24)
        return self._serializer.dumps(value)

    def valid(self, session: MutableMapping[str, Any], token: object) -> bool:
        expected = session.get("csrf")
        if not isinstance(token, str) or not token or not isinstance(expected, str):
            return False
        try:
            value = self._serializer.loads(token, max_age=self._max_age)
        except BadSignature:
            return False
        return isinstance(value, str) and hmac.compare_digest(value, expected)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _is_static(scope: Scope) -> bool:
    root = scope.get("root_path", "")
    path: str = scope.get("path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return path.startswith("/static/")


class MountedSessions:
    """Starlette's SessionMiddleware with the cookie's Path set to where the dashboard is mounted
    (``/good_job``, not ``/``), so the session never travels to the rest of the site; ``secure``
    adds the Secure flag (serve the dashboard over HTTPS only then)."""

    def __init__(self, app: ASGIApp, *, secret_key: str, session_cookie: str, max_age: int,
                 secure: bool = False) -> None:
        self.app = app
        self.secure = secure
        self.options: dict[str, Any] = {"secret_key": secret_key, "session_cookie": session_cookie,
                                        "max_age": max_age, "same_site": "lax"}
        self._by_path: dict[str, ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.middleware.sessions import SessionMiddleware

        path = scope.get("root_path", "") or "/"
        inner = self._by_path.get(path)
        if inner is None:
            inner = self._by_path[path] = SessionMiddleware(self.app, path=path, https_only=self.secure, **self.options)
        await inner(scope, receive, send)

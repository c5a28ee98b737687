"""How each setting's value is parsed (from strings: environment, CLI) and checked (from code).

Split from :mod:`goodjob.core.config`, which keeps the options, their defaults and the precedence
rules; this module knows what a valid integer, duration, URL or callback looks like and how to say
what is wrong with one.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Literal, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ExecutionMode: TypeAlias = Literal["inline", "external", "async", "async_server"]
EXECUTION_MODES: tuple[ExecutionMode, ...] = ("inline", "external", "async", "async_server")
DatabasePooler: TypeAlias = Literal["none", "transaction"]
DATABASE_POOLERS: tuple[DatabasePooler, ...] = ("none", "transaction")


def mask_database_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (in the user info or a ``password=`` parameter)."""
    if "://" not in url:  # libpq keyword form, or not a URL at all
        return re.sub(r"(password\s*=\s*)\S+", r"\1***", url, flags=re.IGNORECASE)
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    netloc = parts.netloc
    userinfo, at, hostinfo = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if at and colon and password:
        netloc = f"{user}:***@{hostinfo}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key == "password" for key, _ in pairs):
        query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="/*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


# --- option kinds: how each field is parsed from text and checked as a typed value ---------------


class _Invalid(Exception):
    """A value was rejected; ``hint`` adds the option's expected shape to the message."""

    def __init__(self, problem: str, *, hint: bool = False) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint

    def message(self, label: str, expected: str) -> str:
        return f"{label} {self.problem}" + (f"; expected {expected}" if self.hint else "")


def _type_error(value: object, wanted: str) -> _Invalid:
    return _Invalid(f"must be {wanted}, not {type(value).__name__}")


_TRUE = frozenset({"true", "1", "yes", "on", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "off", "n", "f"})
_OFF = frozenset({"off", "none", "false", "-1", "disabled"})


class _Kind:
    expected = "a value"

    def parse(self, text: str) -> object:
        """Coerce a string from the environment or the command line."""
        return self.check(text)

    def check(self, value: object) -> object:
        """Validate (and normalize) a value that already has a Python type."""
        raise NotImplementedError

    def show(self, value: object) -> str:
        return repr(value)


class _Number(_Kind):
    def __init__(
        self,
        expected: str,
        bound: str,
        *,
        integer: bool,
        ok: Callable[[float], bool],
        nullable: bool = False,
        off: bool = False,
    ) -> None:
        self.expected, self.bound, self.integer, self.ok = expected, bound, integer, ok
        self.nullable, self.off = nullable, off

    def parse(self, text: str) -> object:
        stripped = text.strip()
        if self.off and stripped.lower() in _OFF:
            return None
        try:
            number: float = int(stripped) if self.integer else float(stripped)
        except ValueError:
            raise _Invalid(f"is not a valid {'integer' if self.integer else 'number'}", hint=True) from None
        return self.check(number)

    def check(self, value: object) -> object:
        if value is None and (self.nullable or self.off):
            return None
        wanted = (int,) if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted):
            raise _type_error(value, "an int" if self.integer else "a number")
        if self.off and value == -1:
            return None
        if not math.isfinite(value):
            raise _Invalid("must be a finite number", hint=True)
        if not self.ok(value):
            raise _Invalid(f"must be {self.bound}")
        return value if self.integer else float(value)


class _Bool(_Kind):
    expected = "true or false (also 1/0, yes/no, on/off)"

    def parse(self, text: str) -> object:
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise _Invalid("is not a valid boolean", hint=True)

    def check(self, value: object) -> object:
        if not isinstance(value, bool):
            raise _type_error(value, "a bool")
        return value


class _ExecutionMode(_Kind):
    expected = "one of " + ", ".join(EXECUTION_MODES)

    def check(self, value: object) -> object:
        if not isinstance(value, str):
            raise _type_error(value, "a str")
        mode = value.strip().lower().removeprefix(":")  # Rails users write :async
        if mode not in EXECUTION_MODES:
            raise _Invalid("is not a valid execution mode", hint=True)
        return mode


class _DatabasePooler(_Kind):
    """What sits between goodjob and Postgres: nothing (or a session pooler), or a transaction pooler."""

    expected = "none (a direct connection, or PgBouncer in session mode) or transaction (PgBouncer in" \
        " transaction mode)"

    def check(self, value: object) -> object:
        if not isinstance(value, str):
            raise _type_error(value, "a str")
        word = value.strip().lower()
        if word not in DATABASE_POOLERS:
            raise _Invalid("is not a valid database pooler", hint=True)
        return word


class _Text(_Kind):
    def __init__(self, *, nullable: bool = False, path: bool = False, secret: bool = False) -> None:
        self.nullable, self.path, self.secret = nullable, path, secret
        self.expected = "a file system path" if path else "a string"

    def check(self, value: object) -> object:
        if value is None and self.nullable:
            return None
        if self.path and isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise _type_error(value, "a str")
        if self.path and not value.strip():
            raise _Invalid("must not be empty", hint=True)
        return value

    def show(self, value: object) -> str:
        return "'***'" if self.secret and value is not None else repr(value)


class _PreserveRecords(_Kind):
    expected = "true, false or on_unhandled_error"

    def parse(self, text: str) -> object:
        word = text.strip().lower().removeprefix(":")
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        return self.check(word)

    def check(self, value: object) -> object:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower().removeprefix(":") == "on_unhandled_error":
            return "on_unhandled_error"
        raise _Invalid("is not a valid value", hint=True)


class _Callback(_Kind):
    expected = "an import path like 'package.module:function'"

    def parse(self, text: str) -> object:
        path = text.strip()
        module_name, colon, attribute = path.partition(":")
        if not colon:
            module_name, _, attribute = path.rpartition(".")
        if not module_name or not attribute:
            raise _Invalid("is not an import path", hint=True)
        try:
            target: object = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except Exception as err:
            raise _Invalid(f"cannot be imported ({type(err).__name__}: {err})", hint=True) from None
        return self.check(target)

    def check(self, value: object) -> object:
        if value is not None and not callable(value):
            raise _Invalid(f"must be callable, not {type(value).__name__}")
        return value


class _CronTable(_Kind):
    """Cron entries: JSON text (kept as text) or a mapping. Only the outer shape is checked here;
    goodjob.core.features.cron validates each entry (expression, class) when cron starts."""

    expected = 'a JSON object of entries, e.g. {"key": {"cron": "*/5 * * * *", "class": "app.jobs.Job"}}'

    def check(self, value: object) -> object:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                parsed = json.loads(value) if value.strip() else {}
            except ValueError as err:
                raise _Invalid(f"is not valid JSON ({err})", hint=True) from None
            if not isinstance(parsed, dict):
                raise _Invalid("is not a JSON object", hint=True)
            return value
        if isinstance(value, Mapping):
            return dict(value)
        raise _type_error(value, "a dict or JSON text")

    def show(self, value: object) -> str:
        return repr(value) if isinstance(value, str) or value is None else f"<{len(value)} cron entries>"  # type: ignore[arg-type]


class _Logger(_Kind):
    expected = "a logger name"

    def parse(self, text: str) -> object:
        return logging.getLogger(text.strip())

    def check(self, value: object) -> object:
        if not isinstance(value, logging.Logger):
            raise _type_error(value, "a logging.Logger")
        return value

    def show(self, value: object) -> str:
        return f"<logger {value.name!r}>" if isinstance(value, logging.Logger) else repr(value)


class _DatabaseUrl(_Kind):
    expected = (
        "a URL like postgresql://user:password@host:5432/dbname"
        " (or postgresql://user@/dbname?host=/socket/dir)"
    )

    def check(self, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, str):
            raise _type_error(value, "a str")
        url = value.strip()
        try:
            parts = urlsplit(url)
        except ValueError:
            raise _Invalid("is not a valid URL", hint=True) from None
        scheme, _, _driver = parts.scheme.lower().partition("+")
        if scheme not in ("postgres", "postgresql") or not url[len(parts.scheme) :].startswith("://"):
            raise _Invalid("is not a postgres:// or postgresql:// URL", hint=True)
        for host in parts.netloc.rpartition("@")[2].split(","):
            port = host.rpartition("]")[2] if host.startswith("[") else host
            port = port.rpartition(":")[2] if ":" in port else ""
            if port and not (port.isdigit() and 1 <= int(port) <= 65535):
                raise _Invalid(f"has an invalid port {port!r}", hint=True)
        # SQLAlchemy-style "postgresql+asyncpg://" names the same database; asyncpg wants it plain.
        return "postgresql" + url[len(parts.scheme) :] if _driver else url

    def show(self, value: object) -> str:
        return repr(mask_database_url(value)) if isinstance(value, str) else repr(value)


def _seconds(bound: str, ok: Callable[[float], bool], **kw: bool) -> _Number:
    return _Number(f"a number of seconds {bound}", bound, integer=False, ok=ok, **kw)


def _count(minimum: int, **kw: bool) -> _Number:
    return _Number(
        f"a whole number >= {minimum}", f">= {minimum}", integer=True, ok=lambda n: n >= minimum, **kw
    )

"""How values and exceptions are put into words for people and text columns: a value's type name
and a short repr for error messages, an exception's class, message and traceback for the execution
history. Shared by the argument encoder and decoder and by the executor.
"""

from __future__ import annotations

import traceback

__all__ = ["exception_info", "preview", "text_safe", "type_name"]


def exception_info(exc: BaseException) -> tuple[str, str, str]:
    """``(class name, message, traceback)`` of a job's exception, safe to store in text columns.

    The class name is ``module.QualName`` (just ``QualName`` for builtins) so retry rules and the
    dashboard can match it. A ``__str__`` that raises must not turn a job failure into a worker
    crash, and NUL / lone surrogates are escaped because Postgres text rejects them."""
    name = type_name(exc)
    try:
        message = str(exc)
    except Exception:
        message = f"<unprintable {name} object>"
    try:
        trace = "".join(traceback.format_exception(exc))
    except Exception:
        trace = f"{name}: {message}\n<traceback could not be formatted>\n"
    return name, text_safe(message), text_safe(trace)


def type_name(value: object) -> str:
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def preview(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def text_safe(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")

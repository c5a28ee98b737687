"""``TASKS[alias]["OPTIONS"]`` for GoodJobBackend: Django-side keys, the rest goes to goodjob.

Django-side keys (all optional):

* ``database``: the Django database alias (default ``"default"``). goodjob's URL is built from
  ``DATABASES[database]`` unless ``database_url`` is given, and ``enqueue_on_commit`` follows the
  transactions of that alias.
* ``enqueue_on_commit``: inside ``transaction.atomic()`` on that alias, write the job when the
  transaction commits (default True); False writes it at once.
* ``result_max_bytes``: the largest return value kept, as JSON (default 1 MiB).

Every other key is a ``goodjob.configure()`` setting (``database_url``, ``max_threads``, ``queues``,
``preserve_job_records``, ``cron``, ...), validated by goodjob; ``preserve_job_records`` defaults to
True here, because ``get_result`` reads finished rows, and ``retry_on_unhandled_error`` to False,
because Django's contract is that a task which raises is FAILED (retries come from the task's
``goodjob_options(error_policy=[goodjob.retry_on(...)])``, or set it True here).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from goodjob.core import config as config_module
from goodjob.core.errors import ConfigurationError
from goodjob.django.errors import InvalidGoodJobBackend

DJANGO_KEYS = ("database", "enqueue_on_commit", "result_max_bytes")
DEFAULT_RESULT_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class BackendOptions:
    database: str = "default"
    enqueue_on_commit: bool = True
    result_max_bytes: int = DEFAULT_RESULT_MAX_BYTES
    goodjob: Mapping[str, Any] = field(default_factory=dict)


def parse_options(alias: str, raw: Mapping[str, Any]) -> BackendOptions:
    """Check OPTIONS; goodjob's settings are validated by goodjob itself (its message, our label)."""
    where = f"TASKS[{alias!r}]['OPTIONS']"
    if not isinstance(raw, Mapping):
        raise InvalidGoodJobBackend(f"{where} must be a dict, got {type(raw).__name__}: {raw!r}")
    database = raw.get("database", "default")
    if not isinstance(database, str) or not database:
        raise InvalidGoodJobBackend(f"{where}['database']={database!r} must be the name of a Django database alias")
    on_commit = raw.get("enqueue_on_commit", True)
    if not isinstance(on_commit, bool):
        raise InvalidGoodJobBackend(f"{where}['enqueue_on_commit']={on_commit!r} must be True or False")
    limit = raw.get("result_max_bytes", DEFAULT_RESULT_MAX_BYTES)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidGoodJobBackend(f"{where}['result_max_bytes']={limit!r} must be a whole number of bytes >= 1")
    settings = {k: v for k, v in raw.items() if k not in DJANGO_KEYS}
    settings.setdefault("preserve_job_records", True)
    settings.setdefault("retry_on_unhandled_error", False)
    if "database_url" not in settings:
        settings["database_url"] = database_url_for(database, where)
    try:
        config_module.load_config(code=settings)
    except ConfigurationError as exc:
        raise InvalidGoodJobBackend(f"{where}: {exc}") from None
    return BackendOptions(database, on_commit, limit, settings)


def database_url_for(alias: str, where: str = "OPTIONS") -> str:
    """A libpq URL for ``DATABASES[alias]`` (PostgreSQL only), as asyncpg expects it."""
    from django.conf import settings

    databases = getattr(settings, "DATABASES", {}) or {}
    if alias not in databases:
        raise InvalidGoodJobBackend(
            f"{where}['database']={alias!r} is not in DATABASES (aliases: {', '.join(sorted(databases)) or 'none'}); "
            "name a PostgreSQL alias or give 'database_url'"
        )
    db = databases[alias]
    engine = str(db.get("ENGINE", ""))
    if "postgresql" not in engine and "postgis" not in engine:
        raise InvalidGoodJobBackend(
            f"DATABASES[{alias!r}] uses ENGINE={engine!r}; goodjob needs PostgreSQL: point "
            f"{where}['database'] at a PostgreSQL alias or give 'database_url'"
        )
    user, password = db.get("USER") or "", db.get("PASSWORD") or ""
    host, port, name = db.get("HOST") or "", db.get("PORT") or "", db.get("NAME") or ""
    auth = quote(str(user), safe="") + (":" + quote(str(password), safe="") if password else "")
    query: dict[str, str] = {}
    netloc = ""
    if host.startswith("/"):  # a Unix socket directory
        query["host"] = host
        if port:
            query["port"] = str(port)
    elif host:
        netloc = quote(host, safe="") + (f":{port}" if port else "")
    options = db.get("OPTIONS") or {}
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "application_name"):
        if options.get(key):
            query[key] = str(options[key])
    url = f"postgresql://{auth + '@' if auth else ''}{netloc}/{quote(str(name), safe='')}"
    return url + ("?" + urlencode(query) if query else "")


_applied: dict[str, Any] | None = None
_applied_by: str | None = None
_lock = threading.Lock()


def apply(alias: str, options: BackendOptions) -> None:
    """Hand the goodjob settings to ``goodjob.configure`` once per process.

    goodjob has one configuration (and one database) per process, so every GoodJobBackend alias
    must agree on them; a second alias with other settings is a configuration error, not a surprise.
    """
    global _applied, _applied_by
    wanted = dict(options.goodjob)
    with _lock:
        if _applied == wanted:
            return
        if _applied is not None and _applied_by != alias:
            raise InvalidGoodJobBackend(
                f"TASKS[{alias!r}] and TASKS[{_applied_by!r}] give goodjob different settings "
                f"({sorted(k for k in {**wanted, **_applied} if wanted.get(k) != _applied.get(k))}); "
                "goodjob has one database and configuration per process: give both aliases the same ones"
            )
        config_module.configure(**wanted)
        _applied, _applied_by = wanted, alias


def forget_applied() -> None:
    """Tests: the next backend applies its settings again (after goodjob.reset_configuration())."""
    global _applied, _applied_by
    with _lock:
        _applied = _applied_by = None

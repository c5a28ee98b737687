"""Django settings of bench/django_backend.py (database from GOODJOB_BENCH_DJANGO_DB, a URL)."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, unquote, urlsplit

_url = urlsplit(os.environ["GOODJOB_BENCH_DJANGO_DB"])
_query = {k: v[0] for k, v in parse_qs(_url.query).items()}
SECRET_KEY = "bench"
USE_TZ = True
INSTALLED_APPS = ["goodjob.django"]
try:
    import django.tasks  # noqa: F401
except ImportError:
    INSTALLED_APPS.insert(0, "django_tasks")
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": unquote(_url.path.lstrip("/")),
    "USER": unquote(_url.username or ""), "PASSWORD": unquote(_url.password or ""),
    "HOST": _query.get("host") or _url.hostname or "", "PORT": _query.get("port") or str(_url.port or ""),
}}
TASKS = {"default": {"BACKEND": "goodjob.django.GoodJobBackend", "OPTIONS": {"database": "default"}}}
LOGGING = {"version": 1, "loggers": {"django.tasks": {"level": "WARNING"}, "django_tasks": {"level": "WARNING"}}}

"""Settings of the goodjob + Django example. The database is PostgreSQL from ``DATABASE_URL``
(``postgresql://user:password@host:5432/name``); goodjob takes its URL from the same alias."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, unquote, urlsplit

_url = urlsplit(os.environ.get("DATABASE_URL", "postgresql://postgres@localhost:5432/goodjob_example"))
_query = {key: values[0] for key, values in parse_qs(_url.query).items()}

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
ROOT_URLCONF = "mysite.urls"
USE_TZ = True

INSTALLED_APPS = [
    "goodjob.django",  # builds the GoodJobBackend at startup (goodjob's settings come from TASKS)
    "shop",
]
try:
    import django.tasks  # noqa: F401  (Django 6+)
except ImportError:
    INSTALLED_APPS.insert(0, "django_tasks")  # the backport on Django < 6

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(_url.path.lstrip("/")),
        "USER": unquote(_url.username or ""),
        "PASSWORD": unquote(_url.password or ""),
        "HOST": _query.get("host") or _url.hostname or "",
        "PORT": _query.get("port") or (str(_url.port) if _url.port else ""),
    }
}

TASKS = {
    "default": {
        "BACKEND": "goodjob.django.GoodJobBackend",
        "QUEUES": ["default", "emails"],
        "OPTIONS": {
            "database": "default",  # goodjob's URL comes from DATABASES["default"]
            "max_threads": 4,  # any goodjob setting
            "dashboard_username": os.environ.get("GOOD_JOB_DASHBOARD_USERNAME", "admin"),
            "dashboard_password": os.environ.get("GOOD_JOB_DASHBOARD_PASSWORD", "admin"),
        },
    }
}

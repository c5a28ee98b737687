"""Settings of the test Django project: the database comes from GOODJOB_DJANGO_TEST_DB (a URL the
test session sets; the worker subprocesses inherit it)."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, unquote, urlsplit

_url = urlsplit(os.environ["GOODJOB_DJANGO_TEST_DB"])
_query = {k: v[0] for k, v in parse_qs(_url.query).items()}

SECRET_KEY = "goodjob-django-tests"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
ROOT_URLCONF = "djproject.urls"
INSTALLED_APPS: list[str] = ["goodjob.django"]
try:
    import django.tasks  # noqa: F401  (Django 6: built in)
except ImportError:
    INSTALLED_APPS.append("django_tasks")  # the backport's signals and checks
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
        "OPTIONS": {"database": "default"},
    }
}

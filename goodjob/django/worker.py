"""``goodjob start`` in a Django project (``DJANGO_SETTINGS_MODULE`` set): set Django up once.

``django.setup()`` loads settings and apps; then every GoodJobBackend alias of ``TASKS`` is built,
which hands its OPTIONS to ``goodjob.configure`` before the worker reads its configuration (command
line flags still win). Task modules are imported when a worker first meets one of their rows.
"""

from __future__ import annotations

import os
import sys

from goodjob.core.errors import ConfigurationError


def setup() -> None:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as manage.py does: the project's modules are importable
    module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
    try:
        import django
    except ImportError:
        raise ConfigurationError(
            f"DJANGO_SETTINGS_MODULE={module!r} is set but Django is not installed; "
            "pip install 'goodjob-pg[django]' (or unset DJANGO_SETTINGS_MODULE)"
        ) from None
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
        from goodjob.django.apps import build_backends

        build_backends()  # their OPTIONS become goodjob settings (if the app is not installed)
    except (ImportError, ImproperlyConfigured) as exc:
        raise ConfigurationError(f"Django setup for DJANGO_SETTINGS_MODULE={module!r} failed: {exc}") from None

"""The ASGI application: Django, with goodjob's dashboard mounted at /goodjob/ beside it.

    uvicorn mysite.asgi:application

Starlette (a goodjob dependency) routes /goodjob/ to the dashboard and everything else to Django;
the dashboard reads goodjob's settings, which the GoodJobBackend set from TASKS when Django started.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django_application = get_asgi_application()  # django.setup(): TASKS' OPTIONS reach goodjob here

from starlette.applications import Starlette  # noqa: E402
from starlette.routing import Mount  # noqa: E402

import goodjob  # noqa: E402

application = Starlette(
    routes=[Mount("/goodjob", app=goodjob.dashboard), Mount("/", app=django_application)],
    lifespan=goodjob.lifespan,  # closes the dashboard's pool at shutdown (and runs async_server workers)
)

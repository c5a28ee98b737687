from __future__ import annotations

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task


@task()
async def noop_async() -> None:
    return None


@task()
def noop_sync() -> None:
    return None

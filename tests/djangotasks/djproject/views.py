from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from djproject.tasks import add, async_echo, effect, record


def enqueue_sync(request: HttpRequest) -> JsonResponse:
    result = add.enqueue(int(request.GET["a"]), int(request.GET["b"]))
    return JsonResponse({"id": result.id, "status": str(result.status)})


async def enqueue_async(request: HttpRequest) -> JsonResponse:
    result = await async_echo.aenqueue(request.GET["value"])
    fetched = await async_echo.aget_result(result.id)
    return JsonResponse({"id": result.id, "status": str(fetched.status)})


def rollback(request: HttpRequest) -> JsonResponse:
    """Writes business data and enqueues, then fails: the transaction takes both away."""
    try:
        with transaction.atomic():
            effect("business-row")
            record.enqueue("rolled-back")
            raise RuntimeError("payment declined")
    except RuntimeError:
        pass
    return JsonResponse({"ok": True})

"""Views that enqueue a task (sync and async) and read its result."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from shop.tasks import send_receipt

try:
    from django.tasks.exceptions import TaskResultDoesNotExist
except ImportError:  # Django < 6: the django-tasks backport
    from django_tasks.exceptions import TaskResultDoesNotExist


def checkout(request: HttpRequest, order_id: int) -> JsonResponse:
    result = send_receipt.enqueue(order_id, request.GET.get("email", "ada@example.com"))
    return JsonResponse({"task": result.id, "status": result.status})


async def checkout_async(request: HttpRequest, order_id: int) -> JsonResponse:
    result = await send_receipt.aenqueue(order_id, request.GET.get("email", "ada@example.com"))
    return JsonResponse({"task": result.id, "status": result.status})


async def receipt_status(request: HttpRequest, task_id: str) -> JsonResponse:
    try:
        result = await send_receipt.aget_result(task_id)
    except TaskResultDoesNotExist as exc:
        return JsonResponse({"error": str(exc)}, status=404)
    body: dict[str, object] = {"status": result.status, "attempts": result.attempts}
    if result.status == "SUCCESSFUL":
        body["return_value"] = result.return_value
    elif result.status == "FAILED":
        body["error"] = result.errors[-1].traceback
    return JsonResponse(body)

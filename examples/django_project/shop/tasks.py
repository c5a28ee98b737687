"""Tasks of the example: plain Django ``@task`` functions; goodjob's retry rule via goodjob_options."""

from __future__ import annotations

import logging

try:
    from django.tasks import task
except ImportError:  # Django < 6: the django-tasks backport
    from django_tasks import task

import goodjob
from goodjob.django import goodjob_options

log = logging.getLogger(__name__)


class MailServerBusy(Exception):
    pass


@task(queue_name="emails", priority=10)
@goodjob_options(error_policy=[goodjob.retry_on(MailServerBusy, wait=goodjob.polynomially_longer, attempts=5)],
                 timeout=30, labels=["email"])
def send_receipt(order_id: int, email: str) -> dict[str, object]:
    log.info("sending the receipt of order %s to %s", order_id, email)
    return {"order": order_id, "sent_to": email}

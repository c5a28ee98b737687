from __future__ import annotations

from django.urls import path
from shop import views

urlpatterns = [
    path("orders/<int:order_id>/checkout", views.checkout),
    path("orders/<int:order_id>/checkout-async", views.checkout_async),
    path("receipts/<str:task_id>", views.receipt_status),
]

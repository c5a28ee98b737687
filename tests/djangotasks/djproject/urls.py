from __future__ import annotations

from django.urls import path

from djproject import views

urlpatterns = [
    path("enqueue-sync", views.enqueue_sync),
    path("enqueue-async", views.enqueue_async),
    path("rollback", views.rollback),
]

from django.urls import path

from listkeeper.web import views

urlpatterns = [
    path("status/", views.status, name="status"),
]

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "listkeeper.api"
    label = "api"

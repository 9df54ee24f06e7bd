from django.apps import AppConfig


class ListkeeperConfig(AppConfig):
    name = "listkeeper"

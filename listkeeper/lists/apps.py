from django.apps import AppConfig


class ListsConfig(AppConfig):
    name = "listkeeper.lists"
    label = "lists"

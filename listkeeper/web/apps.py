from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "listkeeper.web"
    label = "web"

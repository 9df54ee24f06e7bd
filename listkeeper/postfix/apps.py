from django.apps import AppConfig


class PostfixConfig(AppConfig):
    name = "listkeeper.postfix"
    label = "postfix"

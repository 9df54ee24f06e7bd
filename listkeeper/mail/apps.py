from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "listkeeper.mail"
    label = "mail"

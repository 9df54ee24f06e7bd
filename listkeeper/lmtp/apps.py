from django.apps import AppConfig


class LmtpConfig(AppConfig):
    name = "listkeeper.lmtp"
    label = "lmtp"

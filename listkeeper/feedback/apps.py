from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "listkeeper.feedback"
    label = "feedback"

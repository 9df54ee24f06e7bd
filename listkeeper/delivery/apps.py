from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "listkeeper.delivery"
    label = "delivery"

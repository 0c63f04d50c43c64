from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "creneau.core"
    label = "core"

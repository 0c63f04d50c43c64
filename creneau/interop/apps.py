from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "creneau.interop"
    label = "interop"
    verbose_name = "Interopérabilité"

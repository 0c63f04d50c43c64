from django.apps import AppConfig


class VaccinesConfig(AppConfig):
    name = "creneau.vaccines"
    label = "vaccines"
    verbose_name = "Vaccins et stock"

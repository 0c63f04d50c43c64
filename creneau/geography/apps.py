from django.apps import AppConfig


class GeographyConfig(AppConfig):
    name = "creneau.geography"
    label = "geography"
    verbose_name = "Géographie"

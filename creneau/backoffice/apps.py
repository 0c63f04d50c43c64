from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    name = "creneau.backoffice"
    verbose_name = "Back office"

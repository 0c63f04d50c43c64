from django.apps import AppConfig


class SitesConfig(AppConfig):
    name = "creneau.sites"
    label = "sites"
    verbose_name = "Lieux de vaccination"

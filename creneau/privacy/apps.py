from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "creneau.privacy"
    verbose_name = "Données personnelles"

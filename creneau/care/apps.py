from django.apps import AppConfig


class CareConfig(AppConfig):
    name = "creneau.care"
    verbose_name = "Accueil et vaccination"

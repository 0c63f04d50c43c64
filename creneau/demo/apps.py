from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "creneau.demo"
    verbose_name = "Démonstration"

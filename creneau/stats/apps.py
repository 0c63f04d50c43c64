from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "creneau.stats"
    verbose_name = "Statistiques"

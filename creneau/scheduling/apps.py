from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "creneau.scheduling"
    label = "scheduling"
    verbose_name = "Sessions et créneaux"

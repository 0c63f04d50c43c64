from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "creneau.staff"
    verbose_name = "Personnel"

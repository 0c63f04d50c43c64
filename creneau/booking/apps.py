from django.apps import AppConfig


class BookingConfig(AppConfig):
    name = "creneau.booking"
    label = "booking"
    verbose_name = "Rendez-vous"

from django.apps import AppConfig


class BookingConfig(AppConfig):
    name = "creneau.booking"
    label = "booking"
    verbose_name = "Rendez-vous"

    def ready(self) -> None:
        from . import messages  # noqa: F401 (declares the secrets its messages carry)

from django.apps import AppConfig


class BookingConfig(AppConfig):
    name = "creneau.booking"
    label = "booking"
    verbose_name = "Rendez-vous"

    def ready(self) -> None:
        # Declares the secrets its messages carry, and its background jobs.
        from . import jobs, messages  # noqa: F401

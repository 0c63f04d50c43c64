from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "creneau.core"
    label = "core"

    def ready(self) -> None:
        from .crypto import key_ring

        # Keys that cannot be read stop the process at its start, not at its first booking.
        key_ring()

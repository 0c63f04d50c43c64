from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "creneau.alerts"
    label = "alerts"
    verbose_name = "Alertes de créneaux"

    def ready(self) -> None:
        from creneau.booking.holders import contact_holder_declare

        # Declares the link its messages carry, and its background job.
        from . import jobs, messages  # noqa: F401

        # A contact with a running alert is in use: the retention purge keeps it.
        contact_holder_declare(model="alerts.Subscription", field="contact", status="active")

from django.apps import AppConfig


class WaitlistConfig(AppConfig):
    name = "creneau.waitlist"
    label = "waitlist"
    verbose_name = "Liste d'attente"

    def ready(self) -> None:
        from creneau.booking.holders import contact_holder_declare

        # Declares the links its messages carry, and its background job.
        from . import jobs, messages  # noqa: F401

        # A contact waiting on the list is in use: the retention purge keeps it.
        contact_holder_declare(model="waitlist.WaitlistEntry", field="contact", status="active")

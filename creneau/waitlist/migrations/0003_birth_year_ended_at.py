"""The birth year beside the encrypted birth date (the priority order sorted by the
database), and when an entry left the list (the retention purge counts from it)."""

from django.db import migrations, models
from django.db.models import Q


def filled(apps, schema_editor):
    """Each entry's year from its birth date (opened with the data keys); an entry already
    off the list ended, as far as anyone knows, when it would have expired."""
    WaitlistEntry = apps.get_model("waitlist", "WaitlistEntry")
    for entry in WaitlistEntry.objects.only("pk", "birth_date").iterator(chunk_size=500):
        WaitlistEntry.objects.filter(pk=entry.pk).update(birth_year=entry.birth_date.year)
    WaitlistEntry.objects.exclude(status="active").update(ended_at=models.F("expires_at"))


class Migration(migrations.Migration):
    dependencies = [("waitlist", "0002_priority_bands")]

    operations = [
        migrations.AddField(
            model_name="waitlistentry",
            name="birth_year",
            field=models.PositiveSmallIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="waitlistentry",
            name="ended_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(filled, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="waitlistentry",
            name="birth_year",
            field=models.PositiveSmallIntegerField(),
        ),
        migrations.AddIndex(
            model_name="waitlistentry",
            index=models.Index(fields=["status", "ended_at"], name="waitlist_entry_ended"),
        ),
        migrations.AddConstraint(
            model_name="waitlistentry",
            constraint=models.CheckConstraint(
                condition=Q(status="active", ended_at__isnull=True)
                | (~Q(status="active") & Q(ended_at__isnull=False)),
                name="waitlist_entry_ended_when_not_active",
            ),
        ),
    ]

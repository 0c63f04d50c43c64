from django.db import migrations, models
from django.db.models import Min

from creneau.booking.ages import age_band


def bands_computed(apps, schema_editor):
    """Each course's band from its person's birth date (opened with the data keys) and its
    first appointment's day; a course without appointments (erased ones) keeps none."""
    Series = apps.get_model("booking", "Series")
    first_days = Series.objects.annotate(first_day=Min("appointments__slot__date")).filter(
        first_day__isnull=False
    )
    for series in first_days.select_related("person").iterator(chunk_size=500):
        Series.objects.filter(pk=series.pk).update(
            age_band=age_band(birth_date=series.person.birth_date, on=series.first_day)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0013_reminders"),
    ]

    operations = [
        migrations.AddField(
            model_name="series",
            name="age_band",
            field=models.CharField(blank=True, db_default="", default="", max_length=5),
        ),
        migrations.RunPython(bands_computed, migrations.RunPython.noop, elidable=True),
    ]

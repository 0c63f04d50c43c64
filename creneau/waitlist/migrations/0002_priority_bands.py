"""The priority order's default age bands (2021's: the oldest first); an authority edits
them in Django's admin."""

from django.db import migrations

BANDS = [(75, 0, "75 ans et plus"), (65, 1, "65 à 74 ans"), (50, 2, "50 à 64 ans"), (0, 3, "Moins de 50 ans")]


def seed(apps, schema_editor):
    PriorityBand = apps.get_model("waitlist", "PriorityBand")
    for min_age, rank, label in BANDS:
        PriorityBand.objects.get_or_create(min_age=min_age, defaults={"rank": rank, "label": label})


class Migration(migrations.Migration):
    dependencies = [("waitlist", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

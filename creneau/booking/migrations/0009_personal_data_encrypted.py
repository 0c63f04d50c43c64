"""Personal data encrypted at rest, step 1 of 3 (0009 seals the rows, 0010 declares the
encrypted fields; three migrations because PostgreSQL refuses to change a table whose
rows were just updated in the same transaction, "pending trigger events"): the columns
of names, birth dates, categories, addresses and landlines become plain text (a birth
date's ISO form, the categories' JSON), and the blind index columns are added.
See 0009 for what is sealed and how to go back.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("booking", "0008_cancellation_item_erasable")]

    operations = [
        # 1. Plain text columns, the index columns.
        migrations.AlterField("person", "given_name", models.TextField()),
        migrations.AlterField("person", "family_name", models.TextField()),
        migrations.AlterField("person", "birth_date", models.TextField()),
        migrations.AlterField("person", "categories", models.TextField(default="[]", blank=True)),
        migrations.AddField(
            "person", "name_index", models.CharField(max_length=64, default="", db_index=True)
        ),
        migrations.AlterField("contact", "address", models.TextField()),
        migrations.AlterField("contact", "landline", models.TextField(blank=True, default="")),
        migrations.AddField(
            "contact", "address_index", models.CharField(max_length=64, null=True, unique=True)
        ),
        migrations.AddField(
            "contact",
            "landline_index",
            models.CharField(max_length=64, blank=True, default="", db_index=True),
        ),
    ]

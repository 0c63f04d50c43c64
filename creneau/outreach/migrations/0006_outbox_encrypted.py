"""The outbox encrypted at rest, step 1 of 3 (as booking's 0009-0011: three migrations
because PostgreSQL refuses to change a table whose rows were just updated in the same
transaction): the recipient and the template's values become plain text columns, and
the recipient's blind index column is added. See 0007 for what is sealed and how to go
back."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("outreach", "0005_rendered_when_sent")]

    operations = [
        migrations.RemoveIndex("notification", "outreach_no_to_51f3e3_idx"),
        migrations.AlterField("notification", "to", models.TextField()),
        migrations.AlterField(
            "notification", "parameters", models.TextField(blank=True, default="{}")
        ),
        migrations.AddField(
            "notification", "to_index", models.CharField(max_length=64, default="")
        ),
    ]

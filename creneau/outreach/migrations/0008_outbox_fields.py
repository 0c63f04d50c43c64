"""The outbox encrypted at rest, step 3 of 3: the encrypted fields declared (the columns
are text already, 0007 sealed them), the recipient's index required and indexed."""

from django.db import migrations, models

import creneau.core.fields


class Migration(migrations.Migration):
    dependencies = [("outreach", "0007_outbox_sealed")]

    operations = [
        migrations.AlterField("notification", "to", creneau.core.fields.EncryptedTextField()),
        migrations.AlterField(
            "notification",
            "parameters",
            creneau.core.fields.EncryptedJSONField(blank=True, default=dict),
        ),
        migrations.AlterField("notification", "to_index", models.CharField(max_length=64)),
        migrations.AddIndex(
            "notification", models.Index(fields=["to_index", "id"], name="outbox_to")
        ),
    ]

"""Personal data encrypted at rest, step 3 of 3: the encrypted fields declared (the
columns are text already, 0009 sealed them), the index columns required."""

from django.db import migrations, models

import creneau.core.fields


class Migration(migrations.Migration):
    dependencies = [("booking", "0010_personal_data_sealed")]

    operations = [
        # 3. The encrypted fields.
        migrations.AlterField("person", "given_name", creneau.core.fields.EncryptedTextField()),
        migrations.AlterField("person", "family_name", creneau.core.fields.EncryptedTextField()),
        migrations.AlterField("person", "birth_date", creneau.core.fields.EncryptedDateField()),
        migrations.AlterField(
            "person",
            "categories",
            creneau.core.fields.EncryptedJSONField(blank=True, default=list),
        ),
        migrations.AlterField(
            "person", "name_index", models.CharField(max_length=64, db_index=True)
        ),
        migrations.AlterField("contact", "address", creneau.core.fields.EncryptedTextField()),
        migrations.AlterField(
            "contact", "landline", creneau.core.fields.EncryptedTextField(blank=True, default="")
        ),
        migrations.AlterField(
            "contact", "address_index", models.CharField(max_length=64, unique=True)
        ),
    ]

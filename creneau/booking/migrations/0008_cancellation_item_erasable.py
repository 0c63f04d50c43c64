
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('booking', '0007_person_keys_normalized'),
    ]

    operations = [
        migrations.AlterField(
            model_name='cancellationitem',
            name='series',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='booking.series'),
        ),
    ]

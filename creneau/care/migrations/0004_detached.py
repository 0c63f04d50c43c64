
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('booking', '0007_person_keys_normalized'),
        ('care', '0003_corrections'),
        ('sites', '0003_site_staff_second_factor'),
        ('vaccines', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='administration',
            name='detached_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='administration',
            name='dose_number',
            field=models.PositiveSmallIntegerField(null=True),
        ),
        migrations.AddField(
            model_name='administration',
            name='site',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='sites.site'),
        ),
        migrations.AddField(
            model_name='administration',
            name='subject',
            field=models.CharField(blank=True, db_index=True, max_length=64),
        ),
        migrations.AlterField(
            model_name='administration',
            name='appointment',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='administrations', to='booking.appointment'),
        ),
        migrations.AddConstraint(
            model_name='administration',
            constraint=models.CheckConstraint(condition=models.Q(('appointment__isnull', False), models.Q(('dose_number__isnull', False), ('site__isnull', False), ('subject__gt', '')), _connector='OR'), name='administration_detached_keeps_subject'),
        ),
    ]

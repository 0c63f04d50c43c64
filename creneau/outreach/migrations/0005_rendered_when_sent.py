"""Messages are rendered when they are sent, and their text is not kept.

Rows written before keep what they need to be sent or printed: an SMS or e-mail not
sent yet, and every letter (a batch may be printed again), carry their text in
`parameters` ({"written_text", "written_subject"}), which outreach/rendering.py sends as
it is (and the worker drops once sent). The text of the SMS and e-mails already sent is
dropped with the columns.
"""

from django.db import migrations, models


def texts_kept(apps, schema_editor):
    Notification = apps.get_model("outreach", "Notification")
    waiting = Notification.objects.filter(
        models.Q(channel="letter") | models.Q(status__in=("pending", "sending"))
    )
    for row in waiting.only("pk", "body", "subject").iterator():
        Notification.objects.filter(pk=row.pk).update(
            parameters={"written_text": row.body, "written_subject": row.subject}
        )


def texts_back(apps, schema_editor):
    Notification = apps.get_model("outreach", "Notification")
    for row in Notification.objects.only("pk", "parameters").iterator():
        Notification.objects.filter(pk=row.pk).update(
            body=row.parameters.get("written_text", ""), subject=row.parameters.get("written_subject", "")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("outreach", "0004_worker_heartbeat"),
    ]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="parameters",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="notification",
            name="derived",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(texts_kept, texts_back),
        migrations.RemoveField(model_name="notification", name="body"),
        migrations.RemoveField(model_name="notification", name="subject"),
    ]

"""Rules open and close at an hour (Paris time), not on a date: a rule effective from day
D is effective from D at 0 h, and a rule effective to day D (inclusive) is effective until
D + 1 at 0 h (excluded), so that every decision made before stays the same. Going back,
a rule keeps the day of each of its hours (Paris time): an hour is more than a date holds."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import migrations, models
from django.db.models import F, Q

PARIS = ZoneInfo("Europe/Paris")


def _midnight(day):
    return datetime.combine(day, time(0), tzinfo=PARIS)


def to_hours(apps, schema_editor):
    Rule = apps.get_model("eligibility", "EligibilityRule")
    for rule in Rule.objects.order_by("pk"):
        rule.effective_from_at = _midnight(rule.effective_from_day)
        if rule.effective_to is not None:
            rule.effective_until = _midnight(rule.effective_to + timedelta(days=1))
        rule.save(update_fields=["effective_from_at", "effective_until"])


def to_dates(apps, schema_editor):
    Rule = apps.get_model("eligibility", "EligibilityRule")
    for rule in Rule.objects.order_by("pk"):
        rule.effective_from_day = rule.effective_from_at.astimezone(PARIS).date()
        if rule.effective_until is not None:
            last = rule.effective_until.astimezone(PARIS) - timedelta(microseconds=1)
            rule.effective_to = max(last.date(), rule.effective_from_day)
        rule.save(update_fields=["effective_from_day", "effective_to"])


class Migration(migrations.Migration):
    dependencies = [("eligibility", "0001_initial")]

    operations = [
        migrations.RemoveConstraint(
            model_name="eligibilityrule", name="eligibility_rule_dates_ordered"
        ),
        migrations.AddField(
            model_name="eligibilityrule",
            name="effective_from_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name="eligibilityrule",
            name="effective_until",
            field=models.DateTimeField(blank=True, help_text="Exclusive.", null=True),
        ),
        migrations.RenameField(
            model_name="eligibilityrule", old_name="effective_from", new_name="effective_from_day"
        ),
        # Nullable while it is filled, and again going back while `to_dates` fills it.
        migrations.AlterField(
            model_name="eligibilityrule",
            name="effective_from_day",
            field=models.DateField(null=True),
        ),
        migrations.RunPython(to_hours, to_dates),
        migrations.RemoveField(model_name="eligibilityrule", name="effective_from_day"),
        migrations.RemoveField(model_name="eligibilityrule", name="effective_to"),
        migrations.RenameField(
            model_name="eligibilityrule", old_name="effective_from_at", new_name="effective_from"
        ),
        migrations.AlterField(
            model_name="eligibilityrule",
            name="effective_from",
            field=models.DateTimeField(),
        ),
        migrations.AddConstraint(
            model_name="eligibilityrule",
            constraint=models.CheckConstraint(
                condition=Q(effective_until__isnull=True)
                | Q(effective_until__gt=F("effective_from")),
                name="eligibility_rule_dates_ordered",
            ),
        ),
    ]

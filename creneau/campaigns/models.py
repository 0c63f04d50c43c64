"""The people to invite (the health insurance fund's extract), the campaigns an authority
runs over them, and the invitations sent: one per person and campaign, never two."""

from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from creneau.booking.models import Person, Series
from creneau.core.fields import EncryptedDateField, EncryptedJSONField, EncryptedTextField
from creneau.geography.models import Department
from creneau.outreach.models import Notification
from creneau.vaccines.models import Vaccine

# Channels, in the words of the outbox.
SMS, EMAIL, LETTER = "sms", "email", "letter"
CHANNELS = (SMS, EMAIL, LETTER)
MAX_REMINDERS = 2


class Invitee(models.Model):
    """One person of the population extract: not yet a person who booked (booking.Person),
    linked to one once they book under the same names and birth date.

    Personal data is encrypted at rest (core.fields) like booking.Person's; the extract's
    `identifiant` is found by its blind index, unique: a later file updates the person.
    What stays in clear is what campaigns select and pace on: the department, the birth
    year (the exact date is sealed, and checked in Python at the range's edges), and
    whether a mobile or an e-mail address exists (not what it is)."""

    identifiant = EncryptedTextField()
    # Unique by a constraint (Meta), not `unique=True`: on PostgreSQL that would add a
    # second index for LIKE, which nothing asks of a hash and every import pays for.
    identifiant_index = models.CharField(max_length=64)
    family_name = EncryptedTextField()
    given_names = EncryptedTextField()
    birth_date = EncryptedDateField()
    birth_year = models.PositiveSmallIntegerField()
    # {"line_1", "line_2", "postcode", "commune"} as checked at import: one sealed value
    # rather than four (sealing is most of an import's cost).
    address = EncryptedJSONField(default=dict)
    # Found through invitee_wave, which begins with it: no index of its own to keep.
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # E.164, a mobile (SMS goes only to mobiles); a landline in the file is kept out.
    phone = EncryptedTextField(blank=True, default="")
    email = EncryptedTextField(blank=True, default="")
    has_mobile = models.BooleanField(default=False)
    has_email = models.BooleanField(default=False)
    # Category codes (eligibility.Category): health data, sealed.
    categories = EncryptedJSONField(default=list, blank=True)
    # booking.persons.person_index of the given names as written in the file, and of the
    # first of them alone (people type the name they use): a person who books under
    # either is this invitee.
    person_key = models.CharField(max_length=64)
    first_name_key = models.CharField(max_length=64)
    # Indexed only where set (Meta): an import writes a million that are not.
    person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    # A keyed hash of the row's values as imported: the same row again changes nothing.
    digest = models.CharField(max_length=64)
    # The row's line in the file that last wrote it: "then by the file's order".
    position = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Each index is paid by every row an import writes (a million for a national
        # extract): only those something reads. Declared here rather than with
        # `db_index=True`, which on PostgreSQL adds a LIKE twin to each text one.
        constraints = [
            models.UniqueConstraint(fields=["identifiant_index"], name="invitee_identifiant_once"),
        ]
        indexes = [
            models.Index(fields=["department", "birth_year", "position"], name="invitee_wave"),
            models.Index(fields=["person_key"], name="invitee_person_key"),
            models.Index(fields=["first_name_key"], name="invitee_first_name_key"),
            models.Index(
                fields=["person"], condition=Q(person__isnull=False), name="invitee_person"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.given_names} {self.family_name}"


class ErasedInvitee(models.Model):
    """An invitee erased at their own request (privacy.person_erase): the blind index of
    their identifiant and the keyed digest of their row as it was, nothing readable. An
    import that brings the very same row again (the same file, or an extract where
    nothing about them changed) does not take them back; a later file where their row
    differs brings them again, and this row goes. Purged with the population
    (RETENTION_INVITEE_DAYS)."""

    identifiant_index = models.CharField(max_length=64, unique=True)
    digest = models.CharField(max_length=64)
    erased_at = models.DateTimeField()


class PopulationImport(models.Model):
    """One import of an extract: by whom, over which departments, and what became of its
    rows (the first rejected lines with their reasons, never their values)."""

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    file_name = models.CharField(max_length=200, blank=True)
    # Department codes accepted (a regional authority's); empty: every department.
    departments = models.JSONField(default=list, blank=True)
    rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    # [[line, reason], …], the first REJECTIONS_KEPT.
    rejections = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-id"]


class Campaign(models.Model):
    """An authority's invitation campaign: whom (departments, birth dates and/or
    categories), how (channels in order, the message), when (days and hours), how fast
    (the share of free first-dose places a wave may fill)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("En préparation")
        RUNNING = "running", _("En cours")
        PAUSED = "paused", _("En pause")
        STOPPED = "stopped", _("Arrêtée")

    name = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    departments = models.ManyToManyField(Department, related_name="+")
    born_from = models.DateField(null=True, blank=True)
    born_to = models.DateField(null=True, blank=True)
    categories = models.JSONField(default=list, blank=True)
    # What the invitation makes its holder eligible for: these products (none: every
    # product), for a first dose in the campaign's departments.
    vaccines = models.ManyToManyField(Vaccine, blank=True, related_name="+")
    channels = models.JSONField(default=list)
    message_fr = models.TextField()
    message_en = models.TextField(blank=True)
    # Weekdays messages may go out (0 is Monday), and the hours, in the department's time.
    send_days = models.JSONField(default=list)
    send_from = models.TimeField(default=time(9, 0))
    send_until = models.TimeField(default=time(19, 0))
    pace_factor = models.DecimalField(max_digits=4, decimal_places=2, default=1)
    # Days after which someone who has not booked is reminded (twice at most).
    reminder_days = models.PositiveSmallIntegerField(default=7)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(born_from__isnull=True)
                | Q(born_to__isnull=True)
                | Q(born_from__lte=models.F("born_to")),
                name="campaign_birth_range_ordered",
            ),
            models.CheckConstraint(
                condition=Q(send_from__lt=models.F("send_until")),
                name="campaign_hours_ordered",
            ),
            models.CheckConstraint(
                condition=Q(pace_factor__gt=0), name="campaign_pace_factor_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Invitation(models.Model):
    """One campaign's invitation to one invitee, with its personal code: the unique
    constraint `invitation_once_per_campaign` is what makes two workers sending the same
    wave send each person once."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="invitations")
    invitee = models.ForeignKey(Invitee, on_delete=models.PROTECT, related_name="invitations")
    # Copied from the invitee when sent: the campaign screen counts per department.
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    # A booking reference's shape (booking.tokens: 8 characters and a check character),
    # sealed; found by its blind index.
    code = EncryptedTextField()
    code_index = models.CharField(max_length=64, unique=True)
    channel = models.CharField(max_length=10)
    sent_at = models.DateTimeField()
    reminders = models.PositiveSmallIntegerField(default=0)
    last_sent_at = models.DateTimeField()
    # The last message about it (the invitation or a reminder): delivered when sent.
    notification = models.ForeignKey(
        Notification, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    opened_at = models.DateTimeField(null=True, blank=True)
    # The course booked with it: one code books one course.
    series = models.OneToOneField(
        Series, on_delete=models.SET_NULL, null=True, blank=True, related_name="invitation"
    )
    booked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["department", "last_sent_at"], name="invitation_outstanding"),
            models.Index(fields=["campaign", "last_sent_at"], name="invitation_reminders"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "invitee"], name="invitation_once_per_campaign"
            ),
            models.CheckConstraint(
                condition=Q(reminders__lte=MAX_REMINDERS), name="invitation_reminders_bounded"
            ),
        ]


class LinkProgress(models.Model):
    """Where the linking pass (services.invitees_link) stopped among the persons who
    booked: one row. An import sets it back to the first person."""

    person_id = models.PositiveBigIntegerField(default=0)

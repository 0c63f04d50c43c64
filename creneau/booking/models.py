import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from creneau.core.fields import EncryptedDateField, EncryptedJSONField, EncryptedTextField
from creneau.scheduling.models import Session, Slot
from creneau.sites.models import Site
from creneau.vaccines.models import Vaccine

MAX_CODE_ATTEMPTS = 5


class Contact(models.Model):
    """A verified phone number or e-mail address that books and manages appointments; or,
    for a caller with neither, the postal address a call-centre agent took down, where
    confirmations go by letter."""

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")
        LETTER = "letter", _("Courrier")

    channel = models.CharField(max_length=10, choices=Channel.choices)
    # E.164 for a phone number, lower-cased for an e-mail address, the envelope's lines
    # (booking.addresses.postal_address_normalize) for a postal address. Encrypted; the
    # contact is found by the blind index of that form (addresses.contact_address_index),
    # unique: one contact per number or mailbox.
    address = EncryptedTextField()
    address_index = models.CharField(max_length=64, unique=True)
    # A landline the caller gave the call centre (E.164): no message goes to it, it only
    # finds them again when they call back from it (by its blind index).
    landline = EncryptedTextField(blank=True, default="")
    landline_index = models.CharField(max_length=64, blank=True, default="", db_index=True)
    language = models.CharField(max_length=5, default="fr")
    verified_at = models.DateTimeField(null=True, blank=True)
    # When the last one-time code went out: at most one a minute per contact.
    code_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.address


class ContactVerification(models.Model):
    """A one-time code sent to a contact; confirming it proves the contact is theirs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="verifications")
    code_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(attempts__lte=MAX_CODE_ATTEMPTS), name="verification_attempts_bounded"
            ),
        ]


class Person(models.Model):
    """Someone to vaccinate, as entered by the contact who books for them."""

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="persons")
    # Encrypted (core.fields): the database holds none of them in clear.
    given_name = EncryptedTextField()
    family_name = EncryptedTextField()
    birth_date = EncryptedDateField()
    # Declared category codes (creneau.eligibility Category), e.g. ["caregiver"]: a
    # declared condition is health data.
    categories = EncryptedJSONField(default=list, blank=True)
    # The blind index of the names folded (case, accents, spaces) + birth date
    # (persons.person_index): the same person entered twice by one contact is
    # recognised, so that they cannot hold two series (invariant 4).
    match_key = models.CharField(max_length=250)
    # The blind index of the family name folded + birth date: the call centre's search.
    name_index = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "match_key"], name="person_once_per_contact"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.given_name} {self.family_name}"


class Dose1Declarant(models.TextChoices):
    """Who said that a course's dose 1 was given elsewhere."""

    PERSON = "person", _("la personne")
    AGENT = "agent", _("un agent du centre d'appels")


class Series(models.Model):
    """One person's course at one site: dose 1 and dose 2 (or a single dose), booked together."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("En cours")
        COMPLETED = "completed", _("Terminée")
        CANCELLED = "cancelled", _("Annulée")

    reference = models.CharField(max_length=9, unique=True)
    # With the server's secret, derives the management token (booking.secrets).
    token_salt = models.CharField(max_length=16)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="series")
    # The person's match key (a blind index), copied: one active series per human across
    # contacts too.
    person_key = models.CharField(max_length=250)
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="series")
    vaccine = models.ForeignKey(Vaccine, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="series")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # Bumped by every change; names the change in the outbox (one message per change).
    version = models.PositiveIntegerField(default=1)
    eligibility_rule = models.ForeignKey(
        "eligibility.EligibilityRule", on_delete=models.SET_NULL, null=True, blank=True
    )
    # A staff or call-centre override of the eligibility decision, and who made it.
    override_reason = models.CharField(max_length=300, blank=True)
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    cancel_reason = models.CharField(max_length=300, blank=True)
    # A course begun elsewhere (another centre or platform, abroad): its dose 1 of this
    # vaccine was given on that day, as declared, and only its dose 2 is booked here. The
    # nurse confirms it on the day (the day list shows it).
    dose1_elsewhere_on = models.DateField(null=True, blank=True)
    dose1_elsewhere_declared_by = models.CharField(
        max_length=10, choices=Dose1Declarant.choices, blank=True
    )
    # The person's official age band on the day of the course's first appointment here
    # (booking.ages): what statistics group by, the birth date being encrypted. Empty for a
    # course written without it (none since booking/0013).
    age_band = models.CharField(max_length=5, blank=True, db_default="", default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "series"
        constraints = [
            # A dose 1 given elsewhere is a date and who declared it, both or neither.
            models.CheckConstraint(
                condition=Q(dose1_elsewhere_on__isnull=True, dose1_elsewhere_declared_by="")
                | (Q(dose1_elsewhere_on__isnull=False) & ~Q(dose1_elsewhere_declared_by="")),
                name="series_dose1_elsewhere_declared",
            ),
            # Invariant 4: at most one active series per person.
            models.UniqueConstraint(
                fields=["person_key"],
                condition=Q(status="active"),
                name="one_active_series_per_person",
            ),
            models.CheckConstraint(
                condition=Q(override_by__isnull=True) | ~Q(override_reason=""),
                name="series_override_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return self.reference


ACTIVE_APPOINTMENT_STATUSES = ("booked", "arrived")


class Appointment(models.Model):
    """One dose for one person in one slot. Statuses follow FHIR's Appointment.status.

    The short-lived "pending" stage of FHIR is a Hold: a place kept while the person
    types, before there is a person to name.
    """

    class Status(models.TextChoices):
        BOOKED = "booked", _("Réservé")
        ARRIVED = "arrived", _("Arrivé")
        FULFILLED = "fulfilled", _("Vacciné")
        CANCELLED = "cancelled", _("Annulé")
        NOSHOW = "noshow", _("Absent")

    series = models.ForeignKey(Series, on_delete=models.PROTECT, related_name="appointments")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="appointments")
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="appointments")
    dose_number = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOOKED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dose_number", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "dose_number"],
                condition=Q(status__in=ACTIVE_APPOINTMENT_STATUSES),
                name="one_active_appointment_per_dose",
            ),
        ]


class Reminder(models.Model):
    """A reminder written for an appointment (booking/reminders.py): one per appointment,
    kind and start, so that the job that writes them, run again or by two workers, never
    writes one twice, and a moved appointment (a new start) gets its own."""

    class Kind(models.TextChoices):
        BEFORE = "appointment_reminder", _("Rappel avant le rendez-vous")
        DOSE2_RECALL = "dose2_recall", _("Rappel de la 2e dose après la 1re")

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    # The appointment's start when it was reminded.
    start = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "kind", "start"], name="one_reminder_per_start"
            )
        ]


class Hold(models.Model):
    """Places kept for a few minutes while someone types: a first-dose place and, for a
    two-dose product, the proposed second-dose place. Each holds one `booked` count."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="holds")
    dose2_slot = models.ForeignKey(
        Slot, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # A second-dose place alone (in `slot`) for someone whose dose 1 was given elsewhere
    # on that day: the booking it becomes has no dose 1 here.
    dose1_elsewhere_on = models.DateField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Who holds it (a portal session, an API caller) and from which network, for the
    # limits on live holds (services/holds.py); empty for holds taken by staff.
    client = models.CharField(max_length=80, blank=True, default="")
    address = models.CharField(max_length=50, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["slot", "expires_at"]),
            models.Index(fields=["client", "expires_at"], name="hold_client_live"),
            models.Index(fields=["address", "expires_at"], name="hold_address_live"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(dose1_elsewhere_on__isnull=True) | Q(dose2_slot__isnull=True),
                name="hold_dose2_alone_has_no_second_place",
            ),
        ]


class IdempotencyKey(models.Model):
    """A booking request already answered: its retry gets the same booking (invariant 7)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="+")
    # False when the answer was the person's course already in progress: its retry must
    # say so again, not that it booked.
    created = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "key"], name="idempotency_key_unique"),
        ]


class Cancellation(models.Model):
    """One staff action that cancelled a session, a day or a whole site, with its reason.

    Each course it touched is an item; a person who rebooks through the link in their
    message marks their item, so the screen can say how many came back.
    """

    class Scope(models.TextChoices):
        SESSION = "session", _("Une session")
        DAY = "day", _("Une journée")
        SITE = "site", _("Tout le lieu")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="cancellations")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    session = models.ForeignKey(
        Session, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    day = models.DateField(null=True, blank=True)
    reason = models.CharField(max_length=300)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sessions = models.PositiveIntegerField(default=0)
    courses = models.PositiveIntegerField(default=0)
    appointments = models.PositiveIntegerField(default=0)
    notifications = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="cancellation_has_reason"),
        ]


class CancellationItem(models.Model):
    """A course touched by a cancellation, and whether the person has rebooked.

    `dose_number` 1: the course was cancelled whole (its dose 1 had not been given);
    2: only its dose 2 was, and the course waits for a new dose-2 date.
    """

    cancellation = models.ForeignKey(Cancellation, on_delete=models.PROTECT, related_name="items")
    # Empty once the course was erased (privacy: retention, a person's request): the item
    # stays, so that the cancellation's counts (courses, rebooked) stay what they were.
    series = models.ForeignKey(Series, on_delete=models.PROTECT, null=True, related_name="+")
    dose_number = models.PositiveSmallIntegerField()
    rebooked_at = models.DateTimeField(null=True, blank=True)
    rebooked_series = models.ForeignKey(
        Series, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cancellation", "series"], name="cancellation_item_once_per_series"
            ),
        ]

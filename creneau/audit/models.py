from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# `sites` and `geography` are named, not imported: audit sits below every app that
# writes to it (see audit.services).

# The tables are append-only, and the database says so: the triggers of migrations 0002
# and 0004 refuse UPDATE and DELETE of their rows on SQLite and PostgreSQL (invariant 8).
# What follows in Python only fails earlier, with a clearer message.
TABLE = "audit_auditevent"
LINK_TABLE = "audit_chainlink"
SEAL_TABLE = "audit_seal"
APPEND_ONLY_TABLES = (TABLE, LINK_TABLE, SEAL_TABLE)


class AuditAppendOnly(Exception):
    """An attempt to change or delete an audit event: a programming error, never a 4xx."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditAppendOnly("The audit log is append-only: rows are never updated.")

    def delete(self):
        raise AuditAppendOnly("The audit log is append-only: rows are never deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AuditAppendOnly("The audit log is append-only: rows are never updated.")


class AuditEvent(models.Model):
    """Who did what to which object, when and from where (invariant 8).

    Written by `services.audit_record` only, in the transaction of what it records.
    `site` and `department` place the event in a scope, so that an authority reads the
    events of its own sites or departments; an event with neither (a login) is seen
    nationally only. `actor_label` keeps the account's name as it was, even if the
    account is renamed later; `actor` is empty for the system.
    """

    class Action(models.TextChoices):
        VIEW = "view", _("Consultation")
        CREATE = "create", _("Création")
        CHANGE = "change", _("Modification")
        DELETE = "delete", _("Suppression")
        EXPORT = "export", _("Export")
        OVERRIDE = "override", _("Dérogation")
        LOGIN = "login", _("Connexion")
        LOGIN_FAILED = "login_failed", _("Échec de connexion")
        LOGOUT = "logout", _("Déconnexion")
        # A staff page answered "not found": an object of another site, or none.
        REFUSED = "refused", _("Accès refusé")

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    site = models.ForeignKey(
        "sites.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    department = models.ForeignKey(
        "geography.Department", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = TABLE
        ordering = ["-at", "-id"]
        verbose_name = _("événement d'audit")
        verbose_name_plural = _("événements d'audit")
        indexes = [
            models.Index(fields=["site", "at"], name="audit_site_at"),
            models.Index(fields=["department", "at"], name="audit_department_at"),
            models.Index(fields=["actor", "at"], name="audit_actor_at"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label or '-'} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditAppendOnly("The audit log is append-only: an event is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditAppendOnly("The audit log is append-only: an event is never deleted.")


class ChainLink(models.Model):
    """An event's place in the tamper-evident chain (see `audit.chain`): chain `shard` of
    `day`, number `seq` (1, 2, … without a gap), the previous link's hash and its own.

    A row of its own rather than columns of the event: the event is written where the
    service records it, its link at the very end of the transaction (the head's lock is
    the last one taken, see `services.audit_record`), and neither row is ever updated.
    `event_id` is not a foreign key, so that an event removed behind the triggers'
    back leaves its link for `audit_verify` to name. Append-only like the events.
    """

    event_id = models.BigIntegerField(unique=True)
    day = models.DateField()
    shard = models.PositiveSmallIntegerField()
    seq = models.PositiveIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = LINK_TABLE
        constraints = [
            models.UniqueConstraint(fields=["day", "shard", "seq"], name="audit_link_place")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.shard}#{self.seq} {self.hash[:12]}"


class ChainHead(models.Model):
    """The end of one chain: its last sequence number and hash. The one audit row that is
    updated, under its row lock, by every append to its chain; `audit_verify` checks it
    against the chain and the day's seal against it."""

    day = models.DateField()
    shard = models.PositiveSmallIntegerField()
    seq = models.PositiveIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "shard"], name="audit_head_day_shard")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.shard}#{self.seq} {self.hash[:12]}"


class Seal(models.Model):
    """A day's chains closed: each head (`heads`: shard -> [seq, hash]) and one hash over
    them and the previous seal's, also written to the operations log by
    `manage.py audit_seal` so that a copy is kept outside the database. Append-only."""

    day = models.DateField(unique=True)
    heads = models.JSONField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField(default=timezone.now)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        db_table = SEAL_TABLE
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day} {self.hash[:12]}"


class Purge(models.Model):
    """Whole sealed days removed from the log at the end of their retention period
    (`services.audit_purge`): the events and their links of every day up to `through`
    are gone, their heads and seals kept, so that `audit_verify` still checks the chain
    of seals from the first day and every day after `through` as before. Also written
    to the operations log, where a copy is kept outside the database."""

    through = models.DateField()
    events = models.PositiveIntegerField(default=0)
    purged_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["through"]

    def __str__(self) -> str:
        return f"≤ {self.through} ({self.events})"

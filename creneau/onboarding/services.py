"""Sites joining Créneau and the staff who run them: an application on the portal, its
approval (a draft site, its manager invited) or refusal by the regional authority of its
department, invitations to set a password, and a site's staff added and removed by its
manager or an authority. Every staff action here is one unit of work with its audit
event (docs/architecture.md, "A staff action")."""

import re
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext

from creneau.audit.services import audit_record
from creneau.core.actor import Actor
from creneau.core.db import unit_of_work
from creneau.core.errors import CodeExpired, DomainError, InvalidInput, NotFound
from creneau.core.geo import Position, grid_cell
from creneau.core.text import text_normalize
from creneau.geography.models import Commune
from creneau.geography.text import search_name
from creneau.outreach.models import Notification
from creneau.outreach.rendering import Secret
from creneau.outreach.services import notification_enqueue
from creneau.sites.models import Site
from creneau.staff.models import StaffProfile

from . import numbers
from .messages import INVITATION_LINK, invitation_token, invitation_token_hash
from .models import Application, SiteWithoutSlots, StaffInvitation

INVITATION_DAYS = 7
INVITATION_KIND = "staff_invitation"
REFUSAL_KIND = "application_refused"
SOURCE = "onboarding"
# Which official number each kind of applicant may give: a doctor's RPPS, an
# establishment's FINESS, and the SIRET of the company behind either.
NUMBER_KINDS = {
    Application.Kind.GP_PRACTICE: {numbers.RPPS, numbers.SIRET},
    Application.Kind.PHARMACY: {numbers.FINESS, numbers.SIRET},
    Application.Kind.CENTRE: {numbers.FINESS, numbers.SIRET},
}
SITE_ROLES = (StaffProfile.Role.SITE_STAFF, StaffProfile.Role.SITE_MANAGER)
_ARRONDISSEMENT = re.compile(r" \d+(?:er|e) arrondissement$")


class InvitationUsed(DomainError):
    status = 409
    code = "invitation_used"


class ApplicationDecided(DomainError):
    status = 409
    code = "application_decided"


@dataclass(frozen=True)
class ApplicationData:
    kind: str
    name: str
    address: str
    postcode: str
    town: str
    number_kind: str
    number: str
    applicant_name: str
    email: str
    without_slots: bool = False


def commune_of_address(*, postcode: str, town: str) -> Commune:
    """The commune a postcode and a town name designate together, or InvalidInput naming
    the communes of that postcode (Paris for "Paris 17e Arrondissement")."""
    postcode = postcode.strip()
    communes = (
        list(Commune.objects.filter(postal_codes__code=postcode).order_by("-population"))
        if re.fullmatch(r"\d{5}", postcode)
        else []
    )
    if not communes:
        raise InvalidInput(
            gettext("Code postal inconnu : %(code)s.") % {"code": postcode[:10]}, field="postcode"
        )
    wanted = search_name(town)
    for commune in communes:
        if wanted and wanted in (commune.search_name, _ARRONDISSEMENT.sub("", commune.search_name)):
            return commune
    raise InvalidInput(
        gettext("Le %(code)s est le code postal de : %(towns)s.")
        % {"code": postcode, "towns": ", ".join(sorted({c.name for c in communes}))},
        field="town",
    )


def _email_clean(text: str) -> str:
    email = (text or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(gettext("Adresse e-mail invalide."), field="email") from None
    return email


def _text(value: str, *, field: str, label: str, maximum: int) -> str:
    text = text_normalize(value).shown.strip()
    if not 1 <= len(text) <= maximum:
        raise InvalidInput(
            gettext("%(label)s : de 1 à %(max)s caractères.") % {"label": label, "max": maximum},
            field=field,
        )
    return text


@transaction.atomic
def application_submit(*, data: ApplicationData) -> Application:
    """A practice, a pharmacy or a centre applies (the portal's form, rate-limited at the
    door). Everything is checked before the row is written: the number's format and key,
    the number fits the kind, the postcode and the town designate one commune."""
    if data.kind not in NUMBER_KINDS:
        raise InvalidInput(gettext("Type de lieu inconnu."), field="kind")
    if data.number_kind not in NUMBER_KINDS[data.kind]:
        raise InvalidInput(
            gettext("Ce numéro ne convient pas à ce type de lieu : %(allowed)s.")
            % {
                "allowed": ", ".join(
                    str(Application.NumberKind(kind).label)
                    for kind in sorted(NUMBER_KINDS[data.kind])
                )
            },
            field="number_kind",
        )
    number = numbers.official_number_clean(kind=data.number_kind, text=data.number)
    name = _text(data.name, field="name", label=gettext("Nom du lieu"), maximum=200)
    address = _text(data.address, field="address", label=gettext("Adresse"), maximum=250)
    applicant = _text(
        data.applicant_name, field="applicant_name", label=gettext("Votre nom"), maximum=150
    )
    email = _email_clean(data.email)
    commune = commune_of_address(postcode=data.postcode, town=data.town)
    try:
        with transaction.atomic():
            return Application.objects.create(
                kind=data.kind,
                name=name,
                address=address,
                postcode=data.postcode.strip(),
                commune=commune,
                department_id=commune.department_id,
                number_kind=data.number_kind,
                number=number,
                applicant_name=applicant,
                email=email,
                without_slots=data.without_slots,
            )
    except IntegrityError:
        # one_pending_application_per_number: a double submit, or someone else's.
        raise InvalidInput(
            gettext(
                "Une demande est déjà en cours d'examen pour ce numéro : l'agence régionale "
                "de santé vous répondra par e-mail."
            ),
            field="number",
        ) from None


def _application_pending(*, application_id: int, departments: list[str] | None) -> Application:
    """A pending application of the authority's departments, its row locked until the
    decision commits: two authorities clicking at once, the second waits, then finds it
    decided (PostgreSQL reads the row again after the wait; SQLite runs one writer at a
    time)."""
    scope = Application.objects.filter(pk=application_id)
    if departments is not None:
        scope = scope.filter(department__in=departments)
    application = (
        scope.filter(status=Application.Status.PENDING)
        .select_for_update(of=("self",))
        .select_related("commune", "department")
        .first()
    )
    if application is None:
        if scope.exists():
            raise ApplicationDecided(gettext("Cette demande a déjà été examinée."))
        raise NotFound(gettext("Demande introuvable : %(id)s.") % {"id": application_id})
    return application


def _application_decide(*, actor: Actor, application: Application, **values) -> None:
    values |= {"decided_by": actor.user, "decided_at": timezone.now()}
    Application.objects.filter(pk=application.pk).update(**values)
    for name, value in values.items():
        setattr(application, name, value)


@unit_of_work
def application_refuse(
    *, actor: Actor, application_id: int, reason: str, departments: list[str] | None
) -> Application:
    reason = " ".join((reason or "").split())[:500]
    if not reason:
        raise InvalidInput(gettext("Donnez la raison du refus."), field="reason")
    application = _application_pending(application_id=application_id, departments=departments)
    _application_decide(
        actor=actor, application=application, status=Application.Status.REFUSED, reason=reason
    )
    notification_enqueue(
        channel=Notification.Channel.EMAIL,
        to=application.email,
        kind=REFUSAL_KIND,
        event=f"application_refused:{application.pk}",
        context={"site_name": application.name, "reason": reason},
    )
    audit_record(
        actor=actor,
        action="change",
        obj=application,
        department=application.department,
        summary=gettext("Demande d'adhésion refusée : %(name)s") % {"name": application.name},
        details={"reason": reason},
    )
    return application


@unit_of_work
def application_approve(
    *, actor: Actor, application_id: int, departments: list[str] | None
) -> Application:
    """Approve: the site is created as a draft (the authority or its manager publishes
    it), at its commune's position, and its manager is invited by e-mail to set a
    password."""
    application = _application_pending(application_id=application_id, departments=departments)
    commune = application.commune
    try:
        with transaction.atomic():
            site = Site.objects.create(
                name=application.name,
                kind=application.kind,
                status=Site.Status.DRAFT,
                address=application.address,
                postcode=application.postcode,
                commune=commune,
                department=application.department,
                latitude=commune.latitude,
                longitude=commune.longitude,
                grid_cell=grid_cell(Position(commune.latitude, commune.longitude)),
                source=SOURCE,
                external_id=f"{application.number_kind}:{application.number}",
                finess=application.number if application.number_kind == numbers.FINESS else "",
                insee_code=commune.insee_code,
            )
    except IntegrityError:
        # site_external_id_unique_per_source: this number already has its site here.
        raise InvalidInput(
            gettext("Un lieu existe déjà sous ce numéro : refusez la demande en le disant.")
        ) from None
    _application_decide(
        actor=actor, application=application, status=Application.Status.APPROVED, site=site
    )
    if application.without_slots:
        SiteWithoutSlots.objects.create(site=site)
    audit_record(
        actor=actor,
        action="create",
        obj=application,
        site=site,
        summary=gettext("Demande d'adhésion acceptée : %(name)s (brouillon)") % {"name": site.name},
    )
    _invite(actor=actor, site=site, email=application.email, role=StaffProfile.Role.SITE_MANAGER)
    return application


@unit_of_work
def staff_invite(*, actor: Actor, site: Site, email: str, role: str) -> StaffInvitation | None:
    """Invite someone to work at a site (its manager, or an authority of its scope, asks).
    A new account gets an e-mail to set its password; an account of site staff that
    already exists is given the site (None: no e-mail, it has a password)."""
    if role not in SITE_ROLES:
        raise InvalidInput(gettext("Rôle inconnu."), field="role")
    return _invite(actor=actor, site=site, email=_email_clean(email), role=role)


def _invite(*, actor: Actor, site: Site, email: str, role: str) -> StaffInvitation | None:
    User = get_user_model()
    user = User.objects.select_for_update().filter(username=email).first()
    invitation = None
    if user is None:
        user = User(username=email, email=email)
        user.set_unusable_password()
        user.save()
        profile = StaffProfile.objects.create(user=user, role=role)
    else:
        profile = StaffProfile.objects.filter(user=user).first()
        if profile is None or profile.role not in SITE_ROLES:
            raise InvalidInput(
                gettext("Cette adresse a déjà un compte d'un autre type : écrivez au support."),
                field="email",
            )
    profile.sites.add(site)
    if not user.is_active:
        # A deactivated account comes back through a new password, not its old one.
        user.set_unusable_password()
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
    if not user.has_usable_password():
        invitation = _invitation_send(actor=actor, user=user, site=site, role=profile.role)
    audit_record(
        actor=actor,
        action="create",
        object_type="auth.user",
        object_id=user.pk,
        site=site,
        summary=gettext("%(username)s invité(e) comme %(role)s")
        % {"username": email, "role": StaffProfile.Role(profile.role).label},
    )
    return invitation


def _invitation_send(
    *, actor: Actor, user: AbstractBaseUser, site: Site, role: str
) -> StaffInvitation:
    expires_at = timezone.now() + timedelta(days=INVITATION_DAYS)
    # An earlier link to the same account stops working: only the latest opens.
    StaffInvitation.objects.filter(user=user, used_at__isnull=True).update(
        expires_at=timezone.now()
    )
    invitation = StaffInvitation.objects.create(
        user=user, site=site, expires_at=expires_at, invited_by=actor.user
    )
    token = invitation_token(invitation_id=invitation.pk)
    StaffInvitation.objects.filter(pk=invitation.pk).update(token_hash=invitation_token_hash(token))
    notification_enqueue(
        channel=Notification.Channel.EMAIL,
        to=user.email or user.get_username(),
        kind=INVITATION_KIND,
        event=f"staff_invitation:{invitation.pk}",
        context={
            "site_name": site.name,
            "role": str(StaffProfile.Role(role).label),
            "username": user.get_username(),
            "expires": formats.date_format(timezone.localtime(expires_at), "SHORT_DATETIME_FORMAT"),
            "link": Secret(INVITATION_LINK, invitation.pk),
        },
    )
    return invitation


def invitation_check(*, token: str) -> StaffInvitation:
    """The invitation a link opens, still usable; 404 unknown, 409 used, 410 expired."""
    invitation = (
        StaffInvitation.objects.select_related("user", "site")
        .filter(token_hash=invitation_token_hash(token or ""))
        .first()
        if token
        else None
    )
    if invitation is None:
        raise NotFound(gettext("Ce lien d'invitation n'existe pas. Vérifiez qu'il est complet."))
    if invitation.used_at is not None:
        raise InvitationUsed(
            gettext(
                "Ce lien a déjà servi : connectez-vous avec le mot de passe choisi, ou "
                "demandez un nouveau mot de passe."
            )
        )
    if invitation.expires_at <= timezone.now():
        raise CodeExpired(
            gettext("Ce lien d'invitation a expiré : demandez une nouvelle invitation.")
        )
    return invitation


@unit_of_work
def invitation_accept(*, token: str, password: str, password_again: str) -> AbstractBaseUser:
    """Set the invited account's password: the link is spent by one conditional update
    (two tabs submitting at once: one sets the password, the other is told it was used)."""
    invitation = invitation_check(token=token)
    user = invitation.user
    if password != password_again:
        raise InvalidInput(gettext("Les deux mots de passe diffèrent."), field="password_again")
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        raise InvalidInput(" ".join(error.messages), field="password") from None
    now = timezone.now()
    if not StaffInvitation.objects.filter(
        pk=invitation.pk, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now):
        raise InvitationUsed(gettext("Ce lien a déjà servi."))
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    audit_record(
        actor=None,
        action="change",
        object_type="auth.user",
        object_id=user.pk,
        site=invitation.site,
        summary=gettext("Invitation acceptée, mot de passe choisi (%(username)s)")
        % {"username": user.get_username()},
    )
    return user


@unit_of_work
def staff_remove(*, actor: Actor, site: Site, user_id: int) -> None:
    """Take a member of staff off a site; an account left with no site is deactivated
    (it no longer signs in, its history stays). Nobody removes themself."""
    profile = (
        StaffProfile.objects.select_for_update()
        .filter(user_id=user_id, sites=site, role__in=SITE_ROLES)
        .select_related("user")
        .first()
    )
    if profile is None:
        raise NotFound(gettext("Membre de l'équipe introuvable : %(id)s.") % {"id": user_id})
    if profile.user_id == actor.user.pk:
        raise InvalidInput(gettext("Vous ne pouvez pas vous retirer vous-même."))
    profile.sites.remove(site)
    deactivated = not profile.sites.exists()
    if deactivated:
        get_user_model().objects.filter(pk=user_id).update(is_active=False)
    audit_record(
        actor=actor,
        action="change",
        object_type="auth.user",
        object_id=user_id,
        site=site,
        summary=(
            gettext("%(username)s retiré(e) du lieu, compte désactivé")
            if deactivated
            else gettext("%(username)s retiré(e) du lieu")
        )
        % {"username": profile.user.get_username()},
    )


@unit_of_work
def site_without_slots_set(*, actor: Actor, site: Site, without_slots: bool) -> None:
    """The site says it vaccinates without appointments online yet, or no longer."""
    if without_slots:
        SiteWithoutSlots.objects.get_or_create(site=site)
    else:
        SiteWithoutSlots.objects.filter(site=site).delete()
    audit_record(
        actor=actor,
        action="change",
        obj=site,
        site=site,
        summary=gettext("Vaccine sans rendez-vous en ligne pour l'instant")
        if without_slots
        else gettext("Ne se dit plus sans rendez-vous en ligne"),
    )

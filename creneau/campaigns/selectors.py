"""Reads of the campaigns app: who a campaign reaches, the places ahead and the
invitations outstanding that pace its waves, what its screen shows, and an invitation
found by its code."""

from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext

from creneau.booking.models import Appointment, Person, Series
from creneau.booking.persons import person_index
from creneau.booking.services import PersonData
from creneau.booking.tokens import reference_normalize
from creneau.core.crypto import blind_index
from creneau.core.errors import CodeExpired, InvalidInput, NotFound
from creneau.eligibility.models import RULES_TIMEZONE
from creneau.eligibility.selectors import RuleSet, age_on
from creneau.geography.selectors import department_timezone
from creneau.outreach.models import Notification
from creneau.scheduling.models import DayAvailability, Slot
from creneau.sites.models import Site
from creneau.sites.selectors import public_sites_q

from .messages import KIND_INVITATION
from .models import EMAIL, LETTER, SMS, Campaign, Invitation, Invitee

# The places a wave may fill: first-dose places this many days ahead.
PLACES_AHEAD_DAYS = 14
# An invitation is outstanding this long after its last message, unless booked.
OUTSTANDING_DAYS = 7
CODE_PURPOSE = "campaigns.invitation.code"


def invitation_code_index(code: str) -> str:
    """Invitation.code_index: the blind index of a code in its stored form."""
    return blind_index(code, purpose=CODE_PURPOSE)


# Scope: a regional authority's campaigns are those all of whose departments are its own.


def campaign_list(*, departments: Collection[str] | None) -> QuerySet[Campaign]:
    """The campaigns in a scope (`departments` None: every one)."""
    campaigns = Campaign.objects.prefetch_related("departments")
    if departments is not None:
        campaigns = campaigns.exclude(
            pk__in=Campaign.departments.through.objects.exclude(
                department_id__in=list(departments)
            ).values("campaign_id")
        )
    return campaigns.order_by("-id")


def campaign_get(*, campaign_id: int, departments: Collection[str] | None) -> Campaign:
    """A campaign in the scope, or the same "not found" as one that does not exist."""
    campaign = campaign_list(departments=departments).filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(gettext("Campagne introuvable : %(id)s.") % {"id": campaign_id})
    return campaign


# Who a campaign reaches.


def campaign_targets(
    *, campaign: Campaign, department: str | None = None, uninvited: bool = False
) -> Iterator[Invitee]:
    """The invitees a campaign reaches, older first then in the file's order: in its
    departments (or the one given), born in its range, of one of its categories, and not
    already holding a course booked (linked to a person with an active or completed
    one). The database narrows by department and birth year (the exact date and the
    categories are sealed); the range's edge years and the categories are checked here.
    The invitees carry only the fields that choose them and their channel."""
    codes = (
        [department]
        if department is not None
        else list(campaign.departments.values_list("code", flat=True))
    )
    invitees = Invitee.objects.filter(department__in=codes).exclude(
        person__series__status__in=[Series.Status.ACTIVE, Series.Status.COMPLETED]
    )
    if campaign.born_from:
        invitees = invitees.filter(birth_year__gte=campaign.born_from.year)
    if campaign.born_to:
        invitees = invitees.filter(birth_year__lte=campaign.born_to.year)
    if uninvited:
        invitees = invitees.exclude(invitations__campaign=campaign)
    categories = frozenset(campaign.categories)
    # Only what choosing needs: each sealed field loaded costs its opening, and a million
    # rows are read for a preview. The message's fields are read for the chosen few.
    fields = ["department", "birth_year", "position", "has_mobile", "has_email"]
    if campaign.born_from or campaign.born_to:
        fields.append("birth_date")
    if categories:
        fields.append("categories")
    invitees = invitees.only(*fields).order_by("birth_year", "position", "pk")
    for invitee in invitees.iterator(chunk_size=1000):
        if campaign.born_from and invitee.birth_date < campaign.born_from:
            continue
        if campaign.born_to and invitee.birth_date > campaign.born_to:
            continue
        if categories and categories.isdisjoint(invitee.categories):
            continue
        yield invitee


def channels_usable(*, invitee: Invitee, channels: list[str]) -> list[str]:
    """The campaign's channels in its order that the person has (a letter always: the
    extract has everyone's address)."""
    has = {SMS: invitee.has_mobile, EMAIL: invitee.has_email, LETTER: True}
    return [channel for channel in channels if has[channel]]


def channel_choose(*, invitee: Invitee, channels: list[str], after: str | None = None) -> str:
    """The first channel of the campaign's order the person has (after `after`, for a
    reminder, when there is a next one); a letter when they have neither a mobile nor an
    e-mail address, or none of the channels chosen."""
    usable = channels_usable(invitee=invitee, channels=channels)
    if after in channels:
        later = [c for c in usable if channels.index(c) > channels.index(after)]
        return later[0] if later else after
    return usable[0] if usable else LETTER


def campaign_preview(*, campaign: Campaign) -> dict[str, Counter]:
    """Before it starts: how many people per department and per first channel."""
    counts: dict[str, Counter] = {
        code: Counter() for code in campaign.departments.values_list("code", flat=True)
    }
    for invitee in campaign_targets(campaign=campaign):
        counts[invitee.department_id][
            channel_choose(invitee=invitee, channels=campaign.channels)
        ] += 1
    return counts


def invitee_sample(*, campaign: Campaign) -> Invitee | None:
    """A real invitee of the campaign, for the message's preview."""
    found = next(iter(campaign_targets(campaign=campaign)), None)
    return Invitee.objects.get(pk=found.pk) if found is not None else None


EXAMPLE_CODE = "ABCD-EFGH-K"


def invitation_preview(*, campaign: Campaign, invitee: Invitee) -> str:
    """The invitation as this invitee would read it by SMS, from the template the worker
    renders, with an example code (each person's own is drawn when they are invited)."""
    context = {
        "person_name": f"{invitee.given_names} {invitee.family_name}",
        "message_fr": campaign.message_fr,
        "message_en": campaign.message_en,
        "code": EXAMPLE_CODE,
        "link": settings.INVITATION_LINK.format(code=EXAMPLE_CODE),
        "channel": SMS,
        "call_centre_phone": settings.CALL_CENTRE_PHONE,
    }
    with translation.override("fr"):
        return render_to_string(f"outreach/{KIND_INVITATION}.txt", context).strip()


# Pacing.


def free_places_ahead(
    *, departments: Collection[str], vaccine_ids: Collection[int] = (), now: datetime
) -> dict[str, int]:
    """Free first-dose places of public sites per department, today and the next
    PLACES_AHEAD_DAYS - 1 days, from the availability read model (of these products when
    some are given)."""
    today = timezone.localdate(now)
    sites = Site.objects.filter(public_sites_q(now=now), department__in=list(departments))
    rows = DayAvailability.objects.filter(
        site__in=sites,
        dose_number=1,
        date__gte=today,
        date__lt=today + timedelta(days=PLACES_AHEAD_DAYS),
    )
    if vaccine_ids:
        rows = rows.filter(vaccine_id__in=list(vaccine_ids))
    return dict(
        rows.values("site__department")
        .annotate(free=Sum("free"))
        .values_list("site__department", "free")
    )


def invitations_outstanding(*, departments: Collection[str], now: datetime) -> dict[str, int]:
    """Invitations of any campaign per department whose last message went in the last
    OUTSTANDING_DAYS days and that have not booked: places they may still take."""
    return dict(
        Invitation.objects.filter(
            department__in=list(departments),
            last_sent_at__gte=now - timedelta(days=OUTSTANDING_DAYS),
            series__isnull=True,
        )
        .values("department")
        .annotate(count=Count("pk"))
        .values_list("department", "count")
    )


def sending_open(*, campaign: Campaign, department: str, now: datetime) -> bool:
    """Whether messages may go out now in that department: one of the campaign's days,
    between its hours, in the department's own time (Paris for mainland France)."""
    local = now.astimezone(department_timezone(department_code=department))
    return (
        local.weekday() in campaign.send_days
        and campaign.send_from <= local.time() < campaign.send_until
    )


# The campaign's screen.


@dataclass(frozen=True)
class DepartmentProgress:
    department: str
    invited: int
    delivered: int
    opened: int
    booked: int
    vaccinated: int
    free_ahead: int


def campaign_progress(
    *, campaign: Campaign, now: datetime | None = None
) -> list[DepartmentProgress]:
    """Per department: invited, delivered (the last message handed over, or its receipt
    come: letters and e-mails have none), opened (the link or
    the code used), booked, vaccinated (dose 1 given), and the free places ahead."""
    now = now or timezone.now()
    codes = sorted(campaign.departments.values_list("code", flat=True))
    vaccine_ids = list(campaign.vaccines.values_list("pk", flat=True))
    counts = {
        row["department"]: row
        for row in Invitation.objects.filter(campaign=campaign)
        .values("department")
        .annotate(
            invited=Count("pk"),
            delivered=Count(
                "pk",
                filter=Q(
                    notification__status__in=[
                        Notification.Status.SENT,
                        Notification.Status.DELIVERED,
                    ]
                ),
            ),
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
            booked=Count("pk", filter=Q(series__isnull=False)),
        )
    }
    vaccinated = dict(
        Appointment.objects.filter(
            series__invitation__campaign=campaign,
            dose_number=1,
            status=Appointment.Status.FULFILLED,
        )
        .values("series__invitation__department")
        .annotate(count=Count("pk"))
        .values_list("series__invitation__department", "count")
    )
    free = free_places_ahead(departments=codes, vaccine_ids=vaccine_ids, now=now)
    return [
        DepartmentProgress(
            department=code,
            invited=counts.get(code, {}).get("invited", 0),
            delivered=counts.get(code, {}).get("delivered", 0),
            opened=counts.get(code, {}).get("opened", 0),
            booked=counts.get(code, {}).get("booked", 0),
            vaccinated=vaccinated.get(code, 0),
            free_ahead=free.get(code, 0),
        )
        for code in codes
    ]


# An invitation's code.


def invitation_covers(*, invitation: Invitation, slot: Slot, person: PersonData) -> bool:
    """Whether the invitation stands in for the rules for this place and this person: a
    first dose of one of the campaign's products (any when it names none) at a site of
    its departments, for the invitee themself (the same names and birth date, as
    booking recognises a person). Elsewhere, or for someone else, the public rules
    decide, as for anyone."""
    campaign = invitation.campaign
    if slot.dose_number != 1:
        return False
    if not campaign.departments.filter(code=slot.site.department_id).exists():
        return False
    vaccines = list(campaign.vaccines.values_list("pk", flat=True))
    if vaccines and slot.vaccine_id not in vaccines:
        return False
    key = person_index(
        given_name=person.given_name, family_name=person.family_name, birth_date=person.birth_date
    )
    invitee = invitation.invitee
    return key in (invitee.person_key, invitee.first_name_key)


def invitation_get(*, invitation_id: int) -> Invitation | None:
    return Invitation.objects.select_related("campaign", "invitee").filter(pk=invitation_id).first()


def invitation_find(*, code: str) -> Invitation:
    """The invitation a code typed or read out names. A mistyped code is caught by its
    check character before any lookup; an unknown one is not found; one of a stopped
    campaign has expired."""
    normalized = reference_normalize(code)
    if normalized is None:
        raise InvalidInput(
            gettext(
                "Ce code n'est pas valide : vérifiez-le (9 caractères, par exemple ABCD-EFGH-K)."
            ),
            field="code",
        )
    invitation = (
        Invitation.objects.select_related("campaign", "invitee", "series")
        .filter(code_index=invitation_code_index(normalized))
        .first()
    )
    if invitation is None:
        raise NotFound(gettext("Aucune invitation n'a ce code."), field="code")
    if invitation.series_id is None and invitation.campaign.status == Campaign.Status.STOPPED:
        raise CodeExpired(
            gettext("Cette campagne d'invitation est terminée : prenez rendez-vous sans code."),
            field="code",
        )
    return invitation


# A person's own data (privacy) and the retention purge ----------------------------------


def invitees_of_person(*, person: Person) -> QuerySet[Invitee]:
    """The invitees that are this person: linked to them, or of the same names and birth
    date (the blind index booking computes, Person.match_key, against the names as the
    file wrote them or the first given name alone), whether or not the linking pass has
    run since they booked."""
    return Invitee.objects.filter(
        Q(person=person) | Q(person_key=person.match_key) | Q(first_name_key=person.match_key)
    )


def invitee_data(*, invitee: Invitee) -> dict:
    """What the population file said of an invitee and what was sent to them, in plain
    values, for a person's right of access (privacy.selectors.person_data)."""
    invitations = Invitation.objects.filter(invitee=invitee).select_related("campaign")
    return {
        "identifiant": invitee.identifiant,
        "family_name": invitee.family_name,
        "given_names": invitee.given_names,
        "birth_date": invitee.birth_date,
        "address": dict(invitee.address),
        "phone": invitee.phone,
        "email": invitee.email,
        "categories": list(invitee.categories),
        "imported_at": invitee.updated_at,
        "invitations": [
            {
                "campaign": invitation.campaign.name,
                "channel": invitation.channel,
                "sent_at": invitation.sent_at,
                "reminders": invitation.reminders,
                "opened_at": invitation.opened_at,
                "booked_at": invitation.booked_at,
            }
            for invitation in invitations.order_by("pk")
        ],
    }


def invitation_messages_q(invitation_ids: Collection[int]) -> Q:
    """The outbox rows of these invitations (their reminders and fallbacks too): their
    events are named after the invitation (services._message)."""
    condition = Q(pk__in=[])
    for invitation_id in invitation_ids:
        condition |= Q(event__startswith=f"invitation:{invitation_id}:")
    return condition


def invitees_due(*, before: datetime) -> QuerySet[Invitee]:
    """Invitees the campaigns no longer need: no import changed them since `before`, no
    campaign not stopped covers their department (it may still invite them) or invited
    them, and no invitation went to them since `before` (its reminders, its booking)."""
    live = Campaign.objects.exclude(status=Campaign.Status.STOPPED)
    covered = live.filter(departments=OuterRef("department"))
    invitations = Invitation.objects.filter(invitee=OuterRef("pk"))
    recent = invitations.filter(Q(last_sent_at__gte=before) | Q(campaign__in=live))
    return Invitee.objects.filter(updated_at__lt=before).exclude(Exists(covered) | Exists(recent))


def population_opened(*, before: RuleSet, after: RuleSet, at: datetime) -> dict[str, int] | None:
    """Per department, how many people of the extract the rules `after` open a first dose
    to at `at` where the rules `before` do not: the preview of an eligibility change.

    The birth year is in clear, the date and the categories sealed. A birth year whose
    people all get the same answer, whatever their birthday in the year and whatever
    categories they declared, is counted whole by a GROUP BY; only the others (a year at
    the edge of an age limit, an age a rule opens to some categories only) are unsealed
    and decided person by person. Both answers come from `RuleSet.open_to`, the
    eligibility app's own evaluation. None when no extract was imported."""
    if not Invitee.objects.exists():
        return None
    day = at.astimezone(RULES_TIMEZONE).date()
    codes = sorted(
        {code for rules in (before, after) for rule in rules.rules for code in rule.categories}
    )
    declared = [
        frozenset(code for bit, code in enumerate(codes) if mask >> bit & 1)
        for mask in range(2 ** len(codes))
    ]

    def opened(age: int, categories: frozenset[str]) -> bool:
        return after.open_to(age=age, categories=categories, at=at) and not before.open_to(
            age=age, categories=categories, at=at
        )

    counts: Counter[str] = Counter()
    edges: set[int] = set()
    groups = Invitee.objects.values_list("department_id", "birth_year").annotate(n=Count("id"))
    answers: dict[int, set[bool]] = {}
    for department, year, number in groups:
        if year not in answers:
            # Born in `year`: on `day`, one birthday away from day.year - year.
            ages = {max(day.year - year - 1, 0), max(day.year - year, 0)}
            answers[year] = {opened(age, chosen) for age in ages for chosen in declared}
        if answers[year] == {True}:
            counts[department] += number
        elif len(answers[year]) > 1:
            edges.add(year)
    undecided = (
        Invitee.objects.filter(birth_year__in=sorted(edges))
        .only("department", "birth_date", "categories")
        .iterator(chunk_size=1000)
    )
    for invitee in undecided:
        age = max(age_on(birth_date=invitee.birth_date, on=day), 0)
        if opened(age, frozenset(invitee.categories)):
            counts[invitee.department_id] += 1
    return dict(sorted(counts.items()))

"""The authorities' screens for eligibility phases and publication by department: the
national authority edits rules after a preview; a regional authority schedules and
cancels its own departments' publications, never another region's."""

from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.demo.staff import DEMO_PASSWORD
from creneau.eligibility.models import RULES_TIMEZONE, EligibilityRule
from creneau.geography.models import Department
from creneau.sites.models import DepartmentPublication, Site
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.factories import make_site
from tests.staff_door import staff_sign_in

Role = StaffProfile.Role


@pytest.fixture
def accounts(reference):
    staff_account_create(username="national", password=DEMO_PASSWORD, role=Role.NATIONAL_AUTHORITY)
    staff_account_create(
        username="ars",
        password=DEMO_PASSWORD,
        role=Role.REGIONAL_AUTHORITY,
        departments=list(Department.objects.filter(region_id="11")),  # Île-de-France
    )
    paris = make_site(status=Site.Status.DRAFT, name="Paris brouillon")
    marseille = make_site(status=Site.Status.DRAFT, name="Marseille brouillon", insee_code="13201")
    return {"paris": paris, "marseille": marseille}


def moment(delta: timedelta) -> str:
    """A datetime-local value in Paris time."""
    return (timezone.now() + delta).astimezone(RULES_TIMEZONE).strftime("%Y-%m-%dT%H:%M")


def rule_form(**fields) -> dict:
    return {
        "name": "Personnes de 70 ans et plus",
        "explanation": "Les personnes de 70 ans et plus",
        "explanation_en": "People aged 70 and over",
        "min_age": "70",
        "max_age": "",
        "effective_from": moment(timedelta(days=2)),
        "effective_until": "",
        "active": "on",
        **fields,
    }


def staff_events():
    """What staff changed: not their sign-ins, looks and refused pages."""
    return AuditEvent.objects.exclude(action__in=["login", "view", "refused"]).filter(
        actor__isnull=False
    )


def test_a_rule_is_previewed_then_saved(client, accounts):
    staff_sign_in(client, "national")
    assert "2021-06-12" not in client.get(reverse("backoffice:eligibility_rules")).content.decode()
    url = reverse("backoffice:eligibility_rule_new")
    preview = client.post(url, {**rule_form(), "action": "preview"})
    page = preview.content.decode()
    assert preview.status_code == 200
    assert "Aperçu avant d'enregistrer" in page and "0 rendez-vous à venir" in page
    assert "Aucune population à inviter" in page
    assert not EligibilityRule.objects.filter(min_age=70).exists()
    assert not staff_events().exists()

    saved = client.post(url, {**rule_form(), "action": "save"})
    assert saved.status_code == 302
    rule = EligibilityRule.objects.get(min_age=70)
    event = staff_events().get()
    assert (event.action, event.actor.username, event.object_id) == (
        "create",
        "national",
        str(rule.pk),
    )
    listed = client.get(reverse("backoffice:eligibility_rules")).content.decode()
    assert "Personnes de 70 ans et plus" in listed and "programmée" in listed

    change = reverse("backoffice:eligibility_rule", args=[rule.pk])
    assert "Personnes de 70 ans et plus" in client.get(change).content.decode()
    client.post(change, {**rule_form(min_age="72"), "action": "save"})
    assert EligibilityRule.objects.get(pk=rule.pk).min_age == 72
    assert staff_events().filter(action="change").get().details["before"]["min_age"] == 70


def test_a_past_date_asks_to_confirm_and_bad_input_says_which_field(client, accounts):
    staff_sign_in(client, "national")
    url = reverse("backoffice:eligibility_rule_new")
    past = rule_form(effective_from=moment(-timedelta(days=1)))
    asked = client.post(url, {**past, "action": "save"})
    page = asked.content.decode()
    assert asked.status_code == 400
    assert "est déjà passé" in page and "Je confirme une date déjà passée" in page
    assert not EligibilityRule.objects.filter(min_age=70).exists()

    inverted = client.post(url, {**rule_form(max_age="60"), "action": "preview"})
    assert inverted.status_code == 400
    assert "L&#x27;âge maximal va de l&#x27;âge minimal" in inverted.content.decode()
    garbage = client.post(url, {**rule_form(min_age="soixante", effective_from="hier")})
    assert garbage.status_code == 400
    assert not staff_events().exists()

    confirmed = client.post(url, {**past, "past_confirmed": "on", "action": "save"})
    assert confirmed.status_code == 302
    assert EligibilityRule.objects.filter(min_age=70).exists()


def test_a_rule_for_places_starting_soon_is_typed_listed_and_audited(client, accounts):
    staff_sign_in(client, "national")
    url = reverse("backoffice:eligibility_rule_new")
    too_far = client.post(url, {**rule_form(within_hours="800"), "action": "preview"})
    assert too_far.status_code == 400
    assert "Le délai va de 1 à 720 heures" in too_far.content.decode()
    assert client.post(url, {**rule_form(within_hours="24"), "action": "save"}).status_code == 302
    rule = EligibilityRule.objects.get(min_age=70)
    assert rule.within_hours == 24
    assert staff_events().get().details["after"]["within_hours"] == 24
    listed = client.get(reverse("backoffice:eligibility_rules")).content.decode()
    assert "créneaux dans les 24 h" in listed
    change = reverse("backoffice:eligibility_rule", args=[rule.pk])
    client.post(change, {**rule_form(within_hours=""), "action": "save"})
    assert EligibilityRule.objects.get(pk=rule.pk).within_hours is None


def test_a_sites_restriction_is_previewed_then_saved(client, accounts):
    staff_sign_in(client, "national")
    site = accounts["paris"]
    url = reverse("backoffice:site_restriction")
    assert site.name in client.get(url, {"lieu": site.pk}).content.decode()
    assert client.get(url, {"lieu": "abc"}).status_code == 400
    form = {"site": site.pk, "categories": ["caregiver"]}
    preview = client.post(url, {**form, "action": "preview"}).content.decode()
    assert "0 rendez-vous à venir dans ce lieu" in preview
    assert Site.objects.get(pk=site.pk).restricted_to == []
    assert client.post(url, {**form, "action": "save"}).status_code == 302
    assert Site.objects.get(pk=site.pk).restricted_to == ["caregiver"]
    assert staff_events().get().details == {"before": [], "after": ["caregiver"]}


def test_a_regional_authority_has_no_eligibility_screens(client, accounts):
    staff_sign_in(client, "ars")
    for name in ("eligibility_rules", "eligibility_rule_new", "site_restriction"):
        assert client.get(reverse(f"backoffice:{name}")).status_code == 404


def test_a_regional_authority_schedules_and_cancels_its_own_departments_only(client, accounts):
    staff_sign_in(client, "ars")
    url = reverse("backoffice:publications")
    page = client.get(url).content.decode()
    assert "75 Paris" in page and "13 Bouches-du-Rhône" not in page

    other = client.post(url, {"department": "13", "publish_at": moment(timedelta(days=1))})
    assert other.status_code == 400
    assert not DepartmentPublication.objects.exists() and not staff_events().exists()

    past = client.post(url, {"department": "75", "publish_at": moment(-timedelta(hours=1))})
    assert past.status_code == 400 and "dans le futur" in past.content.decode()

    assert (
        client.post(url, {"department": "75", "publish_at": moment(timedelta(days=1))}).status_code
        == 302
    )
    publication = DepartmentPublication.objects.get()
    assert publication.department_id == "75" and publication.scheduled_by.username == "ars"
    marseille = DepartmentPublication.objects.create(
        department_id="13", publish_at=timezone.now() + timedelta(days=1)
    )
    cancel = "backoffice:publication_cancel"
    assert client.post(reverse(cancel, args=[marseille.pk])).status_code == 404
    assert DepartmentPublication.objects.get(pk=marseille.pk).status == "scheduled"
    assert client.post(reverse(cancel, args=[publication.pk])).status_code == 302
    assert DepartmentPublication.objects.get(pk=publication.pk).status == "cancelled"
    again = client.post(reverse(cancel, args=[publication.pk]), follow=True).content.decode()
    assert "déjà eu lieu ou a été annulée" in again
    assert [event.summary for event in staff_events().order_by("pk")] == [
        "Publication des lieux du département 75 programmée",
        "Publication des lieux du département 75 annulée",
    ]


def test_an_overseas_department_is_published_at_its_own_hour(client, accounts):
    staff_sign_in(client, "national")
    make_site(status=Site.Status.DRAFT, insee_code="97411")  # Saint-Denis, Réunion
    day = (timezone.now() + timedelta(days=3)).date()
    client.post(
        reverse("backoffice:publications"),
        {"department": "974", "publish_at": f"{day.isoformat()}T08:00"},
    )
    publication = DepartmentPublication.objects.get(department_id="974")
    # 8 a.m. in Réunion (UTC+4) is 4 a.m. UTC.
    assert publication.publish_at.astimezone(UTC).hour == 4

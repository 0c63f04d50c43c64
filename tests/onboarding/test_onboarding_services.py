"""Sites applying, approved or refused by the authority of their department, invitations
used once before they expire, a site's team, and sites that vaccinate without slots."""

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.core.actor import Actor
from creneau.core.errors import CodeExpired, InvalidInput, NotFound
from creneau.demo.staff import DEMO_PASSWORD
from creneau.onboarding.messages import invitation_token
from creneau.onboarding.models import Application, SiteWithoutSlots, StaffInvitation
from creneau.onboarding.selectors import sites_without_slots
from creneau.onboarding.services import (
    ApplicationDecided,
    InvitationUsed,
    application_approve,
    application_refuse,
    application_submit,
    invitation_accept,
    invitation_check,
    staff_invite,
    staff_remove,
)
from creneau.outreach.models import Notification
from creneau.outreach.rendering import notification_render
from creneau.sites.models import Site
from creneau.staff.services import staff_account_create
from tests.factories import deliver, make_site

from .helpers import EMAIL, Role, application_data, authority, raw_values

NEW_PASSWORD = "Lilas-Cerisier-Ardoise-94"


def test_an_application_is_kept_with_its_commune_department_and_personal_data_sealed(reference):
    application = application_submit(data=application_data())
    application.refresh_from_db()
    assert (application.commune.insee_code, application.department_id) == ("75117", "75")
    assert (application.applicant_name, application.email) == ("Claire Lefebvre", EMAIL)
    stored = raw_values("onboarding_application", "email") + raw_values(
        "onboarding_application", "applicant_name"
    )
    assert all(value.startswith("v1:") for value in stored)
    assert not any("lefebvre" in value.lower() for value in stored)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"postcode": "75017", "town": "Marseille"}, "town"),
        ({"postcode": "13001", "town": "Paris"}, "town"),
        ({"postcode": "99999"}, "postcode"),
        ({"postcode": "7501"}, "postcode"),
        ({"number": "10003016738"}, "number"),
        ({"kind": "pharmacy", "number_kind": "rpps"}, "number_kind"),
        ({"kind": "hospital"}, "kind"),
        ({"email": "pas-une-adresse"}, "email"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_a_wrong_application_is_refused_on_its_field_and_writes_nothing(reference, changes, field):
    with pytest.raises(InvalidInput) as refused:
        application_submit(data=application_data(**changes))
    assert refused.value.details["field"] == field
    assert not Application.objects.exists()


def test_the_town_names_one_of_the_postcodes_communes(reference):
    application = application_submit(data=application_data(postcode="13001", town="marseille"))
    assert application.commune.insee_code == "13201"


def test_a_second_application_for_the_same_number_waits_for_the_first(reference):
    application_submit(data=application_data())
    with pytest.raises(InvalidInput) as refused:
        application_submit(data=application_data(email="autre@exemple.fr"))
    assert refused.value.details["field"] == "number"
    assert Application.objects.count() == 1


def test_approval_creates_a_draft_site_and_invites_its_manager_once(reference):
    application = application_submit(data=application_data())
    paris = authority("ars.idf", "75", "92")
    done = application_approve(actor=paris, application_id=application.pk, departments=["75", "92"])
    site = done.site
    assert (site.status, site.kind, site.department_id) == (Site.Status.DRAFT, "gp_practice", "75")
    assert site.external_id == "rpps:10003016739"
    assert SiteWithoutSlots.objects.filter(site=site).exists()
    manager = get_user_model().objects.get(username=EMAIL)
    assert manager.staff_profile.role == Role.SITE_MANAGER
    assert list(manager.staff_profile.sites.all()) == [site]
    assert not manager.has_usable_password()
    invitation = StaffInvitation.objects.get(user=manager)
    token = invitation_token(invitation_id=invitation.pk)
    # The row keeps the token's hash, the outbox only the invitation id.
    assert token not in invitation.token_hash and len(invitation.token_hash) == 64
    message = Notification.objects.get(kind="staff_invitation")
    assert message.derived == {"link": ["staff_invitation_link", str(invitation.pk)]}
    assert token not in str(message.parameters)
    assert f"/backoffice/invitation/{token}/" in notification_render(notification=message).body
    assert sorted(
        AuditEvent.objects.filter(actor=paris.user).values_list("action", "object_type", "site")
    ) == [
        ("create", "auth.user", site.pk),
        ("create", "onboarding.application", site.pk),
    ]
    with pytest.raises(ApplicationDecided):
        application_approve(actor=paris, application_id=application.pk, departments=None)
    assert Site.objects.count() == 1


def test_another_regions_authority_cannot_decide_it(reference):
    application = application_submit(data=application_data())
    marseille = authority("ars.paca", "13")
    for decide in (
        lambda: application_approve(
            actor=marseille, application_id=application.pk, departments=["13"]
        ),
        lambda: application_refuse(
            actor=marseille, application_id=application.pk, reason="Non.", departments=["13"]
        ),
    ):
        with pytest.raises(NotFound):
            decide()
    application.refresh_from_db()
    assert application.status == Application.Status.PENDING
    assert not Site.objects.exists()
    assert not AuditEvent.objects.filter(actor=marseille.user).exists()


def test_a_refusal_needs_a_reason_and_tells_the_applicant(reference):
    application = application_submit(data=application_data())
    paris = authority("ars.idf", "75")
    with pytest.raises(InvalidInput):
        application_refuse(
            actor=paris, application_id=application.pk, reason="  ", departments=["75"]
        )
    application_refuse(
        actor=paris,
        application_id=application.pk,
        reason="Ce cabinet a déjà un lieu sur Créneau.",
        departments=["75"],
    )
    application.refresh_from_db()
    assert (application.status, application.decided_by) == ("refused", paris.user)
    message = Notification.objects.get(kind="application_refused")
    assert message.to == EMAIL
    assert "déjà un lieu" in notification_render(notification=message).body
    # Refused, the number may apply again.
    application_submit(data=application_data())


def _invited(reference_site=None):
    application = application_submit(data=application_data())
    application_approve(
        actor=authority("ars.idf", "75"), application_id=application.pk, departments=["75"]
    )
    invitation = StaffInvitation.objects.get()
    return invitation, invitation_token(invitation_id=invitation.pk)


def test_an_invitation_sets_the_password_once(reference):
    _, token = _invited()
    with pytest.raises(InvalidInput):
        invitation_accept(token=token, password=NEW_PASSWORD, password_again="autre chose")
    with pytest.raises(InvalidInput):
        invitation_accept(token=token, password="123", password_again="123")
    user = invitation_accept(token=token, password=NEW_PASSWORD, password_again=NEW_PASSWORD)
    assert user.check_password(NEW_PASSWORD)
    with pytest.raises(InvitationUsed):
        invitation_accept(
            token=token, password="Autre-Mot-De-Passe-77", password_again="Autre-Mot-De-Passe-77"
        )
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_an_expired_or_unknown_invitation_opens_nothing(reference):
    invitation, token = _invited()
    with pytest.raises(NotFound):
        invitation_check(token=token[:-1] + ("A" if token[-1] != "A" else "B"))
    with pytest.raises(NotFound):
        invitation_check(token="")
    later = timezone.now() + timedelta(days=8)
    with (
        mock.patch("django.utils.timezone.now", return_value=later),
        pytest.raises(CodeExpired),
    ):
        invitation_accept(token=token, password=NEW_PASSWORD, password_again=NEW_PASSWORD)
    invitation.refresh_from_db()
    assert invitation.used_at is None


def test_a_manager_invites_and_removes_the_staff_of_the_site(reference):
    site = make_site()
    other = make_site(name="Marseille", insee_code="13201")
    manager = staff_account_create(
        username="responsable", password=DEMO_PASSWORD, role=Role.SITE_MANAGER, sites=[site]
    )
    actor = Actor(user=manager, profile=manager.staff_profile)
    staff_invite(actor=actor, site=site, email="Infirmiere@Exemple.fr", role=Role.SITE_STAFF)
    nurse = get_user_model().objects.get(username="infirmiere@exemple.fr")
    assert nurse.staff_profile.role == Role.SITE_STAFF
    # Already staff elsewhere with a password: the site is added, no e-mail.
    nurse.staff_profile.sites.add(other)
    nurse.set_password(NEW_PASSWORD)
    nurse.save()
    assert staff_invite(actor=actor, site=site, email=nurse.username, role=Role.SITE_STAFF) is None
    assert Notification.objects.filter(kind="staff_invitation").count() == 1
    with pytest.raises(InvalidInput):
        staff_invite(actor=actor, site=site, email="ars.idf", role=Role.REGIONAL_AUTHORITY)
    with pytest.raises(InvalidInput):
        staff_remove(actor=actor, site=site, user_id=manager.pk)
    staff_remove(actor=actor, site=site, user_id=nurse.pk)
    nurse.refresh_from_db()
    assert nurse.is_active and list(nurse.staff_profile.sites.all()) == [other]
    manager.staff_profile.sites.add(other)
    staff_remove(actor=actor, site=other, user_id=nurse.pk)
    nurse.refresh_from_db()
    assert not nurse.is_active
    with pytest.raises(NotFound):
        staff_remove(actor=actor, site=site, user_id=nurse.pk)


def test_a_site_that_vaccinates_without_slots_says_so_until_it_has_doses(reference):
    site = make_site()
    plain = make_site(name="Autre")
    SiteWithoutSlots.objects.create(site=site)
    assert sites_without_slots(site_ids=[site.pk, plain.pk]) == {site.pk}
    deliver(site, 10)
    assert sites_without_slots(site_ids=[site.pk, plain.pk]) == set()

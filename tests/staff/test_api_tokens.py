"""Staff API tokens: an authority's own, made and revoked in the back office (staff
actions, audited) or by an operator's command; only a hash kept; shown once; expiring."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from creneau.audit.models import AuditEvent
from creneau.core.errors import InvalidInput
from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.models import ApiToken, StaffProfile
from creneau.staff.selectors import api_token_authenticate, api_token_hash
from creneau.staff.services import api_token_create, staff_account_create
from tests.factories import make_site
from tests.staff_door import staff_sign_in

Role = StaffProfile.Role


@pytest.fixture
def national(reference, client):
    staff_account_create(username="sante", password=DEMO_PASSWORD, role=Role.NATIONAL_AUTHORITY)
    staff_sign_in(client, "sante")
    return client


def test_a_token_is_shown_once_and_only_its_hash_is_kept(national):
    page = national.post(reverse("backoffice:api_tokens"), {"name": "Registre", "days": "30"})
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    token = ApiToken.objects.get()
    secret = page.context["made"].secret
    assert secret in page.content.decode()
    assert token.token_hash == api_token_hash(secret) and secret not in token.token_hash
    assert secret.startswith(token.prefix) and len(secret) > 40
    assert (token.expires_at - token.created_at).days == 30
    assert api_token_authenticate(secret=secret).token == token
    again = national.get(reverse("backoffice:api_tokens")).content.decode()
    assert secret not in again and f"{token.prefix}…" in again
    event = AuditEvent.objects.get(object_type="staff.apitoken", action="create")
    assert event.actor.username == "sante" and event.object_id == str(token.pk)


def test_revoking_ones_own_token_is_audited_and_it_opens_nothing_after(national):
    national.post(reverse("backoffice:api_tokens"), {"name": "Registre", "days": "30"})
    token = ApiToken.objects.get()
    answer = national.post(reverse("backoffice:api_token_revoke", args=[token.pk]), follow=True)
    assert "Jeton révoqué" in answer.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    again = national.post(reverse("backoffice:api_token_revoke", args=[token.pk]), follow=True)
    assert "déjà révoqué" in again.content.decode()
    events = AuditEvent.objects.filter(object_type="staff.apitoken").order_by("pk")
    assert [(e.action, e.actor.username) for e in events] == [
        ("create", "sante"),
        ("change", "sante"),
    ]


@pytest.mark.parametrize(
    "form, message",
    [
        ({"name": "", "days": "30"}, "obligatoire"),
        ({"name": "Registre", "days": "0"}, "supérieure ou égale à 1"),
        ({"name": "Registre", "days": "400"}, "inférieure ou égale à 366"),
        ({"name": "Registre", "days": "abc"}, "nombre entier"),
    ],
)
def test_a_bad_form_is_refused_and_nothing_is_made(national, form, message):
    answer = national.post(reverse("backoffice:api_tokens"), form)
    assert answer.status_code == 400
    assert message in answer.content.decode()
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(object_type="staff.apitoken").exists()


@pytest.mark.parametrize("role", [Role.SITE_MANAGER, Role.SITE_STAFF, Role.CALL_CENTRE])
def test_other_roles_have_no_tokens(reference, client, role):
    site = make_site()
    user = staff_account_create(username="autre", password=DEMO_PASSWORD, role=role, sites=[site])
    staff_sign_in(client, "autre")
    assert client.get(reverse("backoffice:api_tokens")).status_code == 404
    assert (
        client.post(reverse("backoffice:api_tokens"), {"name": "X", "days": "1"}).status_code == 404
    )
    with pytest.raises(InvalidInput):
        api_token_create(actor=None, user=user, name="X", days=1)
    assert not ApiToken.objects.exists()


def test_a_regional_authority_makes_its_own(reference, client):
    from creneau.geography.models import Department

    staff_account_create(
        username="ars",
        password=DEMO_PASSWORD,
        role=Role.REGIONAL_AUTHORITY,
        departments=list(Department.objects.filter(code="13")),
    )
    staff_sign_in(client, "ars")
    assert (
        client.get(reverse("backoffice:home"))
        .content.decode()
        .count(reverse("backoffice:api_tokens"))
    )
    client.post(reverse("backoffice:api_tokens"), {"name": "Registre", "days": "7"})
    assert ApiToken.objects.get().user.username == "ars"


def test_operators_make_list_and_revoke_tokens_by_command(reference):
    staff_account_create(username="sante", password=DEMO_PASSWORD, role=Role.NATIONAL_AUTHORITY)
    out = StringIO()
    call_command(
        "staff_api_token", "create", "sante", "--name", "Registre", "--days", "10", stdout=out
    )
    secret = out.getvalue().splitlines()[-1]
    token = api_token_authenticate(secret=secret).token
    assert token.user.username == "sante"
    listing = StringIO()
    call_command("staff_api_token", "list", "sante", stdout=listing)
    assert f"{token.pk}\t{token.prefix}…\tRegistre" in listing.getvalue()
    assert secret not in listing.getvalue()
    call_command("staff_api_token", "revoke", "sante", str(token.pk), stdout=StringIO())
    assert ApiToken.objects.get().revoked_at is not None
    events = AuditEvent.objects.filter(object_type="staff.apitoken").order_by("pk")
    assert [(e.action, e.actor) for e in events] == [("create", None), ("change", None)]
    with pytest.raises(CommandError, match="déjà révoqué"):
        call_command("staff_api_token", "revoke", "sante", str(token.pk))
    with pytest.raises(CommandError, match="no such account"):
        call_command("staff_api_token", "list", "personne")
    with pytest.raises(CommandError, match="1 à 366"):
        call_command("staff_api_token", "create", "sante", "--name", "X", "--days", "9999")

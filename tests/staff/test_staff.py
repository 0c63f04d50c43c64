import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from creneau.core.errors import NotFound
from creneau.geography.models import Department
from creneau.staff.models import StaffProfile
from creneau.staff.selectors import login_locked_until, staff_site_get, staff_site_list
from creneau.staff.services import (
    MAX_LOGIN_FAILURES,
    login_failure_record,
    login_success_record,
    staff_account_create,
)
from tests.factories import make_site

PASSWORD = "long-enough-passphrase"
Role = StaffProfile.Role


@pytest.fixture
def sites(reference):
    return {
        "paris": make_site(name="Paris 17", insee_code="75117"),
        "marseille": make_site(name="Marseille 1er", insee_code="13201"),
        "saint_denis": make_site(name="Saint-Denis", insee_code="93066"),
    }


def profile(role, **scope):
    user = staff_account_create(username=f"u-{role}", password=PASSWORD, role=role, **scope)
    return user.staff_profile


def names(profile) -> set[str]:
    return set(staff_site_list(profile=profile).values_list("name", flat=True))


def test_each_role_sees_its_scope_of_sites(sites):
    assert names(profile(Role.SITE_STAFF, sites=[sites["paris"]])) == {"Paris 17"}
    ile_de_france = list(Department.objects.filter(code__in=["75", "93"]))
    assert names(profile(Role.REGIONAL_AUTHORITY, departments=ile_de_france)) == {
        "Paris 17",
        "Saint-Denis",
    }
    assert names(profile(Role.NATIONAL_AUTHORITY)) == set(site.name for site in sites.values())
    assert len(names(profile(Role.CALL_CENTRE))) == 3


def test_a_site_outside_the_scope_is_not_found_like_a_missing_one(sites):
    paris_staff = profile(Role.SITE_STAFF, sites=[sites["paris"]])
    assert staff_site_get(profile=paris_staff, site_id=sites["paris"].pk) == sites["paris"]
    for site_id in (sites["marseille"].pk, 999_999):
        with pytest.raises(NotFound) as refused:
            staff_site_get(profile=paris_staff, site_id=site_id)
        assert refused.value.message == f"Lieu introuvable : {site_id}."


@pytest.mark.parametrize("password", ["short", "123456789012345", "password1234"])
def test_weak_passwords_are_refused(reference, password):
    with pytest.raises(ValidationError):
        staff_account_create(username="agent", password=password, role=Role.SITE_STAFF)


def test_five_failures_lock_the_name_for_fifteen_minutes(db):
    now = timezone.now()
    for _ in range(MAX_LOGIN_FAILURES - 1):
        assert login_failure_record(username="Agent", now=now) is None
    assert login_locked_until(username="agent", now=now) is None
    until = login_failure_record(username="agent", now=now)
    assert until == now + timedelta(minutes=15)
    assert login_locked_until(username="AGENT", now=now + timedelta(minutes=14)) == until
    assert login_locked_until(username="agent", now=now + timedelta(minutes=16)) is None
    # After the lock, one more failure starts a new count rather than locking again.
    assert login_failure_record(username="agent", now=now + timedelta(minutes=16)) is None


def test_a_success_clears_the_count(db):
    for _ in range(MAX_LOGIN_FAILURES - 1):
        login_failure_record(username="agent")
    login_success_record(username="agent")
    for _ in range(MAX_LOGIN_FAILURES - 1):
        assert login_failure_record(username="agent") is None


def test_operators_create_accounts_from_the_command_line(reference, monkeypatch):
    site = make_site()
    monkeypatch.setenv("STAFF_PASSWORD", PASSWORD)
    out = io.StringIO()
    call_command("staff_create", "m.dupont", role="site_manager", sites=[site.pk], stdout=out)
    assert "created m.dupont" in out.getvalue()
    profile = StaffProfile.objects.get(user__username="m.dupont")
    assert profile.role == "site_manager" and list(profile.sites.all()) == [site]
    with pytest.raises(CommandError, match="at least one --site"):
        call_command("staff_create", "x.y", role="site_staff")
    with pytest.raises(CommandError, match="no such department"):
        call_command("staff_create", "x.y", role="regional_authority", departments=["99"])
    monkeypatch.setenv("STAFF_PASSWORD", "short")
    with pytest.raises(CommandError, match=r"trop court|too short"):
        call_command("staff_create", "x.y", role="national_authority")

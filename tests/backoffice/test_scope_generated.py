"""Scope on every staff page, generated from the URL resolver (invariant 8).

`test_backoffice` names the other site's object for every URL argument and checks that
a manager of Paris cannot reach them. Here the site in the address is Paris's own while
the object under it is Marseille's (the foreign site id alone must not be what refuses),
the same is checked for the other roles that have a scope, and the call centre, which
covers every site by design, is checked for unknown ids and for accounts without its
permission. Each refusal is a 404, writes nothing to the audit log but sign-ins, and
leaves the other site's data as it was.
"""

from collections.abc import Callable
from datetime import datetime, time

import pytest
from django.urls import reverse
from django.utils import timezone

from creneau.audit.models import AuditEvent
from creneau.booking.models import Appointment, Cancellation, Series
from creneau.demo.staff import DEMO_PASSWORD
from creneau.geography.models import Department
from creneau.sites.models import Site
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.backoffice import test_backoffice
from tests.backoffice.test_backoffice import FOREIGN, backoffice_patterns, sign_in

# Pytest finds a module's fixtures by its names: the two sites of `test_backoffice`.
world = test_backoffice.world

Role = StaffProfile.Role
ILE_DE_FRANCE = ("75", "77", "78", "91", "92", "93", "94", "95")
UNKNOWN_ID = 10**9

# The accounts signed in by the tests below, by role: what `staff_account_create` gets.
ACCOUNTS: dict[str, Callable[[dict], dict]] = {
    Role.SITE_STAFF: lambda world: {"sites": [world["paris"]]},
    Role.REGIONAL_AUTHORITY: lambda world: {
        "departments": list(Department.objects.filter(code__in=ILE_DE_FRANCE))
    },
    Role.CALL_CENTRE: lambda world: {},
}
SCOPED_ROLES = (Role.SITE_STAFF, Role.REGIONAL_AUTHORITY)

PATTERNS = backoffice_patterns()
# Under one's own site: every URL that names a site and something of that site.
CHILD_PATTERNS = [(name, args) for name, args in PATTERNS if "site_id" in args and len(args) > 1]
CALL_CENTRE_PATTERNS = [(name, args) for name, args in PATTERNS if name.startswith("callcenter:")]
# The call centre's pages that name an object: a course (series_id), a batch of letters…
CALL_CENTRE_OBJECT_PATTERNS = [
    (name, args) for name, args in CALL_CENTRE_PATTERNS if any(a.endswith("_id") for a in args)
]


def by_name(patterns):
    return [pytest.param(name, args, id=name) for name, args in patterns]


# Every URL with arguments, naming Marseille's objects: under Marseille's site id, and,
# when it names something under a site, under Paris's.
FOREIGN_CASES = [
    pytest.param(name, args, own_site, id=f"{name}-{'own' if own_site else 'foreign'}-site")
    for name, args in PATTERNS
    for own_site in (False, True)
    if args and (not own_site or (name, args) in CHILD_PATTERNS)
]


def sign_in_as(client, world, role: str) -> None:
    """A fresh account of this role, signed in; its username is the role."""
    staff_account_create(username=role, password=DEMO_PASSWORD, role=role, **ACCOUNTS[role](world))
    assert sign_in(client, username=role).status_code == 302


def url_for(world, name: str, arguments: list[str], **given) -> str:
    """The URL naming Marseille's object for every argument but those given."""
    return reverse(
        name, kwargs={a: given[a] if a in given else FOREIGN[a](world) for a in arguments}
    )


def request(client, world, url: str) -> int:
    """GET, or when the page only takes POST, a POST that every view would act on if it
    let the object through: receive a delivery, change lines, cancel the whole site or a
    course, mark the day's no-shows."""
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(
            url,
            {
                "action": "receive",
                "lot": "L1",
                "lines": "3",
                "portee": "site",
                "reason": "Essai de portée.",
                "jour": world["day"].isoformat(),
            },
        )
    return response.status_code


def site_state(site: Site) -> dict[str, list]:
    """What a page could change at a site: compared before and after a refused request."""
    return {
        "site": list(Site.objects.filter(pk=site.pk).values_list("status", "name", "phone")),
        "appointments": list(
            Appointment.objects.filter(slot__site=site).order_by("pk").values_list("pk", "status")
        ),
        "series": list(Series.objects.filter(site=site).order_by("pk").values_list("pk", "status")),
        "sessions": list(site.sessions.order_by("pk").values_list("pk", "status", "lines")),
        "deliveries": list(site.deliveries.order_by("pk").values_list("pk", "status", "lot")),
        "cancellations": list(
            Cancellation.objects.filter(site=site).order_by("pk").values_list("pk")
        ),
    }


def assert_not_found(client, world, url: str, *, untouched: Site) -> None:
    before = site_state(untouched)
    assert request(client, world, url) == 404, url
    # The world was set up by the system (no account): only what an account did counts.
    # One event, the refusal, naming what was asked and no site: nothing that tells
    # whether the object exists elsewhere.
    staff_events = AuditEvent.objects.exclude(action="login").filter(actor__isnull=False)
    assert [
        (event.action, event.details["path"], event.site_id, event.department_id)
        for event in staff_events
    ] == [("refused", url, None, None)]
    assert site_state(untouched) == before


@pytest.fixture
def on_the_day(world, monkeypatch):
    """The clock at 10:00 on the appointments' day: a check-in or a no-show would go
    through if a page let another site's appointment in."""
    moment = timezone.make_aware(datetime.combine(world["day"], time(10, 0)))
    monkeypatch.setattr(timezone, "now", lambda: moment)


def test_the_generated_cases_cover_the_pages_that_name_a_sites_objects():
    """An empty list would make the tests below skip, not fail."""
    assert {name for name, _ in CHILD_PATTERNS} >= {
        "backoffice:session_lines",
        "backoffice:session_stop",
        "backoffice:delivery_change",
        "backoffice:cancellation",
        "backoffice:check_in",
        "backoffice:dose_given",
    }
    assert {name for name, _ in CALL_CENTRE_OBJECT_PATTERNS} >= {
        "callcenter:file",
        "callcenter:move",
        "callcenter:cancel",
        "callcenter:dose2",
    }
    assert {name for name, _ in CALL_CENTRE_PATTERNS} >= {"callcenter:home", "callcenter:hold"}


@pytest.mark.usefixtures("on_the_day")
@pytest.mark.parametrize("name, arguments", by_name(CHILD_PATTERNS))
def test_another_sites_object_under_ones_own_site_is_not_found(client, world, name, arguments):
    sign_in(client)
    url = url_for(world, name, arguments, site_id=world["paris"].pk)
    assert_not_found(client, world, url, untouched=world["marseille"])


@pytest.mark.usefixtures("on_the_day")
@pytest.mark.parametrize("role", SCOPED_ROLES)
@pytest.mark.parametrize("name, arguments, own_site", FOREIGN_CASES)
def test_another_sites_objects_are_not_found_for_every_role(
    client, world, role, name, arguments, own_site
):
    sign_in_as(client, world, role)
    own = {"site_id": world["paris"].pk} if own_site else {}
    url = url_for(world, name, arguments, **own)
    assert_not_found(client, world, url, untouched=world["marseille"])


@pytest.mark.parametrize("role", [*SCOPED_ROLES, Role.CALL_CENTRE])
def test_every_role_reaches_a_page_of_its_own_site(client, world, role):
    """The 404s above are the scope's, not an account that can open nothing."""
    paris, series = world["paris"].pk, world["paris_appointment"].series_id
    sign_in_as(client, world, role)
    answers = {
        url: client.get(url).status_code
        for url in (
            reverse("backoffice:site_day", args=[paris]),
            reverse("backoffice:site_settings", args=[paris]),
            reverse("callcenter:file", args=[series]),
        )
    }
    assert 200 in answers.values(), answers
    assert set(answers.values()) <= {200, 404}, answers


@pytest.mark.parametrize("name, arguments", by_name(CALL_CENTRE_OBJECT_PATTERNS))
def test_an_unknown_id_is_not_found_in_the_call_centre(client, world, name, arguments):
    """The call centre covers every site: what it must not find is what does not exist."""
    sign_in_as(client, world, Role.CALL_CENTRE)
    unknown = {argument: UNKNOWN_ID for argument in arguments if argument.endswith("_id")}
    url = url_for(world, name, arguments, **unknown)
    assert_not_found(client, world, url, untouched=world["marseille"])


@pytest.mark.usefixtures("on_the_day")
@pytest.mark.parametrize("name, arguments", by_name(CALL_CENTRE_PATTERNS))
def test_the_call_centre_is_not_found_for_a_site_manager(client, world, name, arguments):
    """Even for a course of the manager's own site: the call centre is a permission."""
    sign_in(client)
    url = url_for(world, name, arguments, series_id=world["paris_appointment"].series_id)
    assert_not_found(client, world, url, untouched=world["paris"])

"""The call centre's world: a centre with sessions, an agent signed in, a nurse of the
centre (who is not an agent)."""

import pytest

from creneau.demo.staff import DEMO_PASSWORD
from creneau.staff.models import StaffProfile
from creneau.staff.services import staff_account_create
from tests.factories import two_dose_site
from tests.staff_door import staff_sign_in

Role = StaffProfile.Role


@pytest.fixture
def centre(reference):
    site, session = two_dose_site(name="Centre Wagram")
    staff_account_create(username="agent", password=DEMO_PASSWORD, role=Role.CALL_CENTRE)
    staff_account_create(
        username="nurse", password=DEMO_PASSWORD, role=Role.SITE_STAFF, sites=[site]
    )
    return site, session


@pytest.fixture
def agent(client, centre):
    staff_sign_in(client, "agent")
    return client

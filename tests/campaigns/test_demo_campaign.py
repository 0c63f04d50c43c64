"""The demo's campaign: a generated population imported, the over-75s of Paris invited
up to the places open, one link printed; loading the demo again changes nothing."""

from creneau.campaigns.models import Campaign, Invitation, Invitee
from creneau.demo.campaigns import demo_campaign_ensure
from creneau.outreach.models import Notification
from tests.factories import two_dose_site


def test_the_demo_invites_the_over_75s_of_paris_and_prints_a_link(reference):
    two_dose_site(lines=4)  # 24 first-dose places in Paris
    first = demo_campaign_ensure(people=300)
    assert first.people == Invitee.objects.count() == 300
    assert first.invited == Invitation.objects.count() == 24
    assert first.link.startswith("http://127.0.0.1:8000/invitation/#code=")
    assert Notification.objects.filter(kind="invitation").count() == 24
    again = demo_campaign_ensure(people=300)
    assert (again.invited, Campaign.objects.count(), Invitee.objects.count()) == (0, 1, 300)
    assert all(invitation.invitee.department_id == "75" for invitation in Invitation.objects.all())

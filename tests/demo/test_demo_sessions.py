from django.db.models import F

from creneau.demo.sessions import WEEKS, demo_schedule_generate
from creneau.scheduling.models import DayAvailability, Session
from creneau.sites.models import Site
from creneau.vaccines.models import Stock
from tests.factories import make_site, tomorrow


def test_demo_schedule_covers_eight_weeks_within_stock_and_runs_again_as_a_no_op(reference):
    for kind in Site.Kind.values:
        make_site(name=kind, kind=kind)
    make_site(name="closed", status=Site.Status.CLOSED)
    today = tomorrow(0)
    first = demo_schedule_generate(today=today)
    assert first.sites == len(Site.Kind.values)
    assert first.sessions == Session.objects.count() > 0
    assert not Session.objects.filter(site__status=Site.Status.CLOSED).exists()
    last = Session.objects.order_by("-date").values_list("date", flat=True).first()
    assert (last - today).days < WEEKS * 7
    assert not Stock.objects.filter(committed__gt=F("delivered")).exists()
    assert Stock.objects.filter(committed__gt=0).count() == len(Site.Kind.values)
    assert DayAvailability.objects.filter(free__gt=0).exists()
    second = demo_schedule_generate(today=today)
    assert (second.sites, second.sessions) == (0, 0)

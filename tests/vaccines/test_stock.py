import pytest
from django.db import IntegrityError

from creneau.core.errors import NotFound, StockInsufficient
from creneau.vaccines.models import Delivery, Stock
from creneau.vaccines.services import (
    delivery_cancel,
    delivery_receive,
    delivery_record,
    stock_commit,
    vaccines_seed,
)
from tests.factories import STAFF, deliver, make_site, tomorrow, vaccine


def stock(site, code="comirnaty") -> Stock:
    return Stock.objects.get(site=site, vaccine=vaccine(code))


def test_the_2021_products_are_seeded_with_their_intervals(reference):
    assert vaccines_seed() == 4
    comirnaty, janssen = vaccine("comirnaty"), vaccine("janssen")
    assert (comirnaty.doses_in_series, comirnaty.interval_min_days) == (2, 21)
    assert comirnaty.interval_min_days <= comirnaty.interval_recommended_days
    assert janssen.doses_in_series == 1
    assert vaccine("vaxzevria").min_age == 55


def test_a_confirmed_delivery_counts_before_it_arrives(reference):
    site = make_site()
    delivery = delivery_record(
        site=site, vaccine=vaccine(), quantity=600, expected_on=tomorrow(), lot="FF1234"
    )
    assert delivery.status == Delivery.Status.EXPECTED
    assert stock(site).delivered == 600
    delivery_receive(actor=STAFF, delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RECEIVED and delivery.received_at
    assert stock(site).delivered == 600


def test_doses_are_promised_only_from_what_is_left(reference):
    site = make_site()
    deliver(site, 100)
    stock_commit(site_id=site.pk, vaccine_id=vaccine().pk, doses=60)
    with pytest.raises(StockInsufficient) as caught:
        stock_commit(site_id=site.pk, vaccine_id=vaccine().pk, doses=41)
    assert caught.value.details == {"needed": 41, "uncommitted": 40}
    assert "il en reste 40" in caught.value.message
    stock_commit(site_id=site.pk, vaccine_id=vaccine().pk, doses=40)
    assert stock(site).uncommitted == 0


def test_cancelling_a_delivery_whose_doses_are_promised_is_refused(reference):
    site = make_site()
    deliver(site, 100)
    late = delivery_record(site=site, vaccine=vaccine(), quantity=50, expected_on=tomorrow())
    stock_commit(site_id=site.pk, vaccine_id=vaccine().pk, doses=120)
    with pytest.raises(StockInsufficient):
        delivery_cancel(actor=STAFF, delivery_id=late.pk)
    late.refresh_from_db()
    assert late.status == Delivery.Status.EXPECTED
    assert stock(site).delivered == 150


def test_cancelling_a_free_delivery_returns_its_doses_once(reference):
    site = make_site()
    late = delivery_record(site=site, vaccine=vaccine(), quantity=50, expected_on=tomorrow())
    delivery_cancel(actor=STAFF, delivery_id=late.pk)
    assert stock(site).delivered == 0
    with pytest.raises(NotFound):
        delivery_cancel(actor=STAFF, delivery_id=late.pk)


def test_the_database_itself_refuses_an_over_promised_stock(reference):
    site = make_site()
    deliver(site, 10)
    with pytest.raises(IntegrityError):
        Stock.objects.filter(site=site).update(committed=11)

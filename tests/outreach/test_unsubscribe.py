"""The unsubscribe link of reminders and invitations: the page explains and asks, the
button (or a mail client's one-click POST) opts the address out; a link not signed here
is refused and changes nothing."""

from django.core import mail
from django.utils import timezone

from creneau.outreach.models import Notification, OptOut
from creneau.outreach.services import notification_enqueue, outbox_send
from tests.outreach.test_delivery import daytime

EMAIL = "jeanne@example.org"


def reminder_link(db) -> str:
    notification_enqueue(
        channel="email",
        to=EMAIL,
        kind="appointment_reminder",
        event="reminder:1",
        context={"person_name": "Jeanne", "reference": "R", "appointments": []},
        not_before=timezone.now(),
    )
    outbox_send(now=daytime())
    (sent,) = mail.outbox
    return sent.extra_headers["List-Unsubscribe"].strip("<>")


def test_following_the_link_asks_before_anything_changes(client, db):
    link = reminder_link(db)
    page = client.get(link)
    assert page.status_code == 200
    assert "Me désinscrire" in page.content.decode()
    assert not OptOut.objects.exists()


def test_the_button_opts_the_address_out_and_later_reminders_are_not_sent(client, db):
    link = reminder_link(db)
    page = client.post(link)
    assert page.status_code == 200
    assert "C'est fait" in page.content.decode()
    assert OptOut.objects.get().source == OptOut.Source.LINK
    again = client.post(link)  # twice: the same answer, one row
    assert again.status_code == 200 and OptOut.objects.count() == 1
    later = notification_enqueue(
        channel="email", to=EMAIL, kind="appointment_reminder", event="reminder:2", context={}
    )
    assert later.status == Notification.Status.OPTED_OUT
    confirmation = notification_enqueue(
        channel="email", to=EMAIL, kind="booking_confirmed", event="series:x:v1", context={}
    )
    assert confirmation.status == Notification.Status.PENDING


def test_a_mail_clients_one_click_post_works_without_our_csrf_cookie(db):
    from django.test import Client

    link = reminder_link(db)
    answer = Client(enforce_csrf_checks=True).post(
        link, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 200 and OptOut.objects.count() == 1


def test_a_link_not_signed_here_is_refused_and_changes_nothing(client, db):
    link = reminder_link(db)
    forged = link.rstrip("/")[:-3] + "abc/"
    assert client.get(forged).status_code == 400
    assert client.post(forged).status_code == 400
    assert client.post("/desinscription/nimportequoi/").status_code == 400
    assert not OptOut.objects.exists()

"""Delivery on campaign day: codes before everything, reminders and invitations after and
never at night nor to an address that opted out, a failure for good going on to the
message's fallback."""

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from creneau.admission.models import Counter
from creneau.outreach.models import Notification, OptOut, Priority
from creneau.outreach.quiet import quiet_hours_end
from creneau.outreach.services import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    notification_enqueue,
    optout_record,
    outbox_send,
)
from tests.outreach.backends import permanent, script, temporary

PARIS = ZoneInfo("Europe/Paris")
PHONE = "+33612345678"
NOON = datetime(2027, 3, 2, 12, 0, tzinfo=PARIS)


def code(to: str = PHONE, number: int = 1) -> Notification:
    return notification_enqueue(
        channel="sms",
        to=to,
        kind=Notification.Kind.VERIFICATION_CODE,
        event=f"verification:{number}",
        context={"code": "123456", "minutes": 10},
    )


def reminder(to: str = PHONE, *, channel: str = "sms", number: int = 1, **options):
    return notification_enqueue(
        channel=channel,
        to=to,
        kind=Notification.Kind.APPOINTMENT_REMINDER,
        event=f"reminder:{number}",
        context={
            "person_name": "Jeanne Martin",
            "reference": "7K2M-Q9XA",
            "manage_url": "https://creneau.example/rendez-vous/7K2M-Q9XA/ouvrir/#cle=k",
            "site_name": "Centre Paris 17",
            "site_address": "",
            "appointments": [{"dose_number": 1, "when": "jeudi 4 mars 2027, 10:00"}],
        },
        **options,
    )


def invitation(number: int) -> Notification:
    return notification_enqueue(
        channel="sms",
        to=f"+336{number:08d}",
        kind=Notification.Kind.INVITATION,
        event=f"invitation:{number}",
        context={"code": "123456", "minutes": 10},
    )


def test_each_kind_gets_its_priority_when_written(db):
    assert code().priority == Priority.CODE
    assert reminder().priority == Priority.REMINDER
    assert invitation(1).priority == Priority.INVITATION
    confirmed = notification_enqueue(
        channel="sms", to=PHONE, kind="booking_confirmed", event="series:x:v1", context={}
    )
    assert confirmed.priority == Priority.APPOINTMENT


def test_a_code_written_after_invitations_is_sent_first(db, sms_outbox, time_machine_now):
    time_machine_now(NOON)
    invitations = [invitation(number) for number in range(20)]
    late_code = code("+33699999999")
    assert late_code.pk > max(row.pk for row in invitations)
    outbox_send(limit=5, now=NOON + timedelta(seconds=1))
    assert sms_outbox[0].to == "+33699999999"
    assert sms_outbox[0].reference == str(late_code.pk)


def test_a_batch_ends_after_its_seconds_so_that_the_queue_is_read_again(
    db, sms_outbox, time_machine_now, settings
):
    time_machine_now(NOON)
    # A claim takes what the rate allows in a tenth of a second (CLAIM_SECONDS): 2 here,
    # 1 at the very end of a second.
    settings.OUTBOX_RATES = {"sms": 20, "email": 0}
    for number in range(5):
        invitation(number)
    # One claim, then the time is up (taken and tried: the invitations' templates are
    # the campaigns' own).
    first = len(outbox_send(limit=5, seconds=0, now=NOON).deliveries)
    assert first in (1, 2)
    assert len(outbox_send(limit=5, seconds=60, now=NOON).deliveries) == 5 - first


def test_quiet_hours_end_at_eight_in_paris():
    assert quiet_hours_end(NOON) is None
    evening = datetime(2027, 3, 2, 21, 0, tzinfo=PARIS)
    morning = datetime(2027, 3, 3, 8, 0, tzinfo=PARIS)
    assert quiet_hours_end(evening) == morning
    assert quiet_hours_end(datetime(2027, 3, 3, 2, 30, tzinfo=PARIS)) == morning
    assert quiet_hours_end(datetime(2027, 3, 3, 7, 59, tzinfo=PARIS)) == morning
    assert quiet_hours_end(morning) is None
    assert quiet_hours_end(datetime(2027, 3, 2, 20, 59, tzinfo=PARIS)) is None


def test_a_reminder_written_at_night_waits_for_the_morning_a_code_does_not(
    db, sms_outbox, time_machine_now
):
    night = datetime(2027, 3, 2, 22, 30, tzinfo=PARIS)
    time_machine_now(night)
    late = reminder()
    urgent = code("+33699999999")
    assert late.next_attempt_at == datetime(2027, 3, 3, 8, 0, tzinfo=PARIS)
    assert urgent.next_attempt_at == night
    assert outbox_send(now=night + timedelta(minutes=1)).sent == 1
    assert [s.to for s in sms_outbox] == ["+33699999999"]
    assert outbox_send(now=datetime(2027, 3, 3, 7, 59, tzinfo=PARIS)).deliveries == []
    assert outbox_send(now=datetime(2027, 3, 3, 8, 0, tzinfo=PARIS)).sent == 1  # deferred, sent


def test_a_reminder_due_before_nine_pm_but_not_sent_by_then_waits_for_the_morning(
    db, sms_outbox, time_machine_now
):
    time_machine_now(datetime(2027, 3, 2, 20, 50, tzinfo=PARIS))
    reminder()  # the workers fell behind: still pending at 21:00
    assert outbox_send(now=datetime(2027, 3, 2, 21, 5, tzinfo=PARIS)).deliveries == []
    assert outbox_send(now=datetime(2027, 3, 3, 8, 1, tzinfo=PARIS)).sent == 1


def test_an_address_that_opted_out_gets_no_reminder_but_its_code(db, sms_outbox):
    assert optout_record(address=PHONE, source=OptOut.Source.STOP) is True
    assert optout_record(address=PHONE, source=OptOut.Source.LINK) is False  # once
    written = reminder()
    assert written.status == Notification.Status.OPTED_OUT
    code()
    outbox_send(now=timezone.now() + timedelta(seconds=1))
    assert [s.text.startswith("Créneau : votre code") for s in sms_outbox] == [True]


def test_a_reminder_waiting_when_its_address_opts_out_is_not_sent(db, sms_outbox):
    waiting = reminder(not_before=timezone.now())
    optout_record(address=PHONE, source=OptOut.Source.STOP)
    report = outbox_send(now=daytime())
    assert [d.outcome for d in report.deliveries] == ["opted_out"]
    waiting.refresh_from_db()
    assert waiting.status == Notification.Status.OPTED_OUT and sms_outbox == []


def test_the_reminder_carries_its_unsubscribe_link_and_header_by_email(db, settings):
    reminder("jeanne@example.org", channel="email", not_before=timezone.now())
    outbox_send(now=daytime())
    (sent,) = mail.outbox
    link = sent.extra_headers["List-Unsubscribe"].strip("<>")
    assert link.startswith(settings.PUBLIC_URL + "/desinscription/")
    assert f"Ne plus recevoir de rappels ni d'invitations : {link}" in sent.body
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_code_has_no_unsubscribe_link(db, sms_outbox):
    code()
    outbox_send(now=daytime())
    (sms,) = sms_outbox
    assert "STOP" not in sms.text and "desinscription" not in sms.text


def test_a_refused_sms_goes_on_to_its_fallback_once(db, sms_outbox):
    first = reminder(
        fallbacks=[("email", "jeanne@example.org"), ("letter", "JEANNE MARTIN\n75017 PARIS")],
        not_before=timezone.now(),
    )
    script[PHONE] = [permanent("HTTP 400: not a mobile")]
    assert outbox_send(now=daytime()).failed == 1
    first.refresh_from_db()
    assert first.status == Notification.Status.FAILED
    second = Notification.objects.get(fallback_of=first)
    assert (second.channel, second.to, second.kind, second.priority) == (
        "email",
        "jeanne@example.org",
        first.kind,
        first.priority,
    )
    assert second.fallbacks == [["letter", "JEANNE MARTIN\n75017 PARIS"]]
    assert second.event == f"{first.event}>email"
    outbox_send(now=daytime())
    (sent,) = mail.outbox
    assert "Centre Paris 17" in sent.body and "desinscription" in sent.body
    assert Notification.objects.count() == 2


def test_a_message_that_spent_every_attempt_goes_on_to_its_fallback(db, sms_outbox):
    first = reminder(fallbacks=[("email", "jeanne@example.org")], not_before=timezone.now())
    script[PHONE] = [temporary() for _ in range(MAX_ATTEMPTS)]
    when = daytime()
    for delay in (timedelta(0), *RETRY_DELAYS):
        when += delay
        outbox_send(now=when)
    first.refresh_from_db()
    assert first.status == Notification.Status.FAILED
    assert Notification.objects.filter(fallback_of=first, channel="email").count() == 1


def test_a_message_without_fallback_just_fails(db, sms_outbox):
    code()
    script[PHONE] = [permanent()]
    outbox_send(now=daytime())
    assert Notification.objects.count() == 1


def daytime() -> datetime:
    """A moment of tomorrow's day, outside the quiet hours, after every row is due."""
    tomorrow = timezone.now().astimezone(PARIS).date() + timedelta(days=1)
    return datetime.combine(tomorrow, datetime.min.time().replace(hour=12), tzinfo=PARIS)


class FrozenClock:
    """The outbox's wall clock (its rate windows) stopped at the start of a second; the
    monotonic one runs."""

    monotonic = staticmethod(time.monotonic)

    @staticmethod
    def time() -> float:
        return 1_800_000_000.0


@pytest.fixture
def rates(settings, monkeypatch, time_machine_now):
    """Set the channels' rates, at noon, the rate windows' clock stopped."""
    time_machine_now(NOON)
    monkeypatch.setattr("creneau.outreach.services.time", FrozenClock)

    def set_rates(**rates: float) -> None:
        settings.OUTBOX_RATES = {"sms": 0, "email": 0, **rates}

    return set_rates


def rate_spent() -> int:
    return sum(Counter.objects.filter(key="outbox:rate:sms").values_list("hits", flat=True))


def test_the_rate_counts_only_the_messages_handed_to_the_provider(db, sms_outbox, rates):
    rates(sms=50)
    for number in range(5):
        invitation(number)
    for number in (1, 3):
        optout_record(address=f"+336{number:08d}", source=OptOut.Source.STOP)
    report = outbox_send(now=NOON)
    # One claim of five (a tenth of a second at 50 a second): two opted out since, and
    # their share of the rate given back for the next claim.
    assert sorted(d.outcome for d in report.deliveries) == ["opted_out"] * 2 + ["sent"] * 3
    assert rate_spent() == 3


def test_a_channel_whose_rate_is_spent_waits_for_the_next_second_the_other_goes_on(
    db, sms_outbox, rates
):
    rates(sms=2)
    for number in range(4):
        code(f"+336{number:08d}", number)
    notification_enqueue(
        channel="email",
        to="jeanne@example.org",
        kind=Notification.Kind.VERIFICATION_CODE,
        event="verification:email",
        context={"code": "123456", "minutes": 10},
    )
    report = outbox_send(now=NOON)
    assert [d.channel for d in report.deliveries] == ["sms", "sms", "email"]
    assert len(sms_outbox) == 2 and len(mail.outbox) == 1
    # It ended because the only channel with messages left had spent its rate: the
    # worker waits for the next window, not its idle pause.
    assert report.throttled_for == 1.0

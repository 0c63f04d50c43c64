"""The call centre by keyboard: each page opens with the focus where the agent works next
(`autofocus`, no script needed), one place per page."""

import re

from django.urls import reverse

from tests.callcenter.test_callcenter import DETAILS, choose_first_slot, existing_booking

HOME = reverse("callcenter:home")


def focused(response) -> str:
    """The one element of the page that has the focus when it opens."""
    page = response.content.decode()
    tags = re.findall(r"<[a-z]+\b[^>]*\sautofocus[\s>][^>]*>?", page)
    assert len(tags) == 1, tags
    return tags[0]


def test_the_search_box_first_then_the_callers_town_or_the_caller_found(agent, centre):
    _site, session = centre
    assert 'id="id_q"' in focused(agent.get(HOME))
    # Nobody: next is the caller's town, and a screen reader hears why first.
    nobody = agent.get(HOME, {"q": "06 12 34 56 78"})
    tag = focused(nobody)
    assert 'name="near"' in tag and 'aria-describedby="nobody"' in tag
    assert 'id="nobody"' in nobody.content.decode()
    series = existing_booking(session)
    found = focused(agent.get(HOME, {"q": "06 11 22 33 44"}))
    assert f'href="/callcenter/parcours/{series.pk}/"' in found


def test_the_first_slot_then_the_first_name(agent, centre):
    slots = agent.get(reverse("callcenter:slots"), {"near": "75017"})
    first = re.search(r'name="slot" value="(\d+)"', slots.content.decode())[1]
    assert f'value="{first}"' in focused(slots)
    choose_first_slot(agent)
    assert 'name="given_name"' in focused(agent.get(reverse("callcenter:person")))


def test_a_page_with_a_message_opens_on_it(agent, centre):
    choose_first_slot(agent)
    booked = agent.post(reverse("callcenter:person"), DETAILS, follow=True)
    assert "portal-messages" in focused(booked)


def test_errors_open_on_their_summary(agent, centre):
    assert "error-summary" in focused(agent.get(HOME, {"q": "???"}))
    choose_first_slot(agent)
    response = agent.post(reverse("callcenter:person"), {**DETAILS, "birth_date": "31021940"})
    assert response.status_code == 400 and "error-summary" in focused(response)


def test_moving_a_dose_opens_on_the_day_then_on_its_first_slot(agent, centre):
    _site, session = centre
    series = existing_booking(session)
    move = reverse("callcenter:move", args=[series.pk, 1])
    assert 'id="jour"' in focused(agent.get(move))
    page = agent.get(move, {"jour": f"{session.date:%Y-%m-%d}"})
    first = re.search(r'name="slot" value="(\d+)"', page.content.decode())[1]
    assert f'value="{first}"' in focused(page)

"""A page that tells people to call says which number, where it says so."""

import re


def test_the_eligibility_answer_no_gives_the_number_to_call(client, reference, settings):
    settings.CALL_CENTRE_PHONE = "01 23 45 67 89"
    child = {"birth_date_day": "1", "birth_date_month": "1", "birth_date_year": "2015"}
    page = client.get("/eligibilite/", child).content.decode()
    answer = re.search(r"Pas encore\..*?</div>", page, re.S)[0]
    assert "01 23 45 67 89" in answer

from __future__ import annotations

from django.test import Client

from listkeeper.lists import services

PAGE = "/l/community@lists.example.org/"


def test_it_stops_mailing_one_address_after_a_few_requests_but_answers_the_same(
    community, outbox, settings
) -> None:
    settings.THROTTLE_PER_ADDRESS = 2
    answers = set()
    for n in range(4):
        # Different clients: the limit is on the address, not on who asks.
        response = Client(REMOTE_ADDR=f"192.0.2.{n + 1}").post(
            PAGE, {"address": "victim@example.org"}
        )
        answers.add((response.status_code, response.content))
    assert len(answers) == 1
    assert len(outbox.to("victim@example.org")) == 2


def test_it_counts_mail_to_one_address_across_lists_and_the_manage_form(
    community, outbox, settings
) -> None:
    settings.THROTTLE_PER_ADDRESS = 2
    other = services.create_list("other", "lists.example.org", actor="test")
    client = Client()
    client.post(PAGE, {"address": "victim@example.org"})
    client.post(f"/l/{other.address}/", {"address": "victim@example.org"})
    client.post("/manage/", {"address": "victim@example.org"})
    assert len(outbox) == 2


def test_it_refuses_a_client_that_asks_too_often(community, outbox, settings) -> None:
    settings.THROTTLE_PER_CLIENT = 3
    busy = Client(REMOTE_ADDR="198.51.100.7")
    codes = [busy.post(PAGE, {"address": f"user{n}@example.org"}).status_code for n in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert (
        "Too many requests" in busy.post("/manage/", {"address": "x@example.org"}).content.decode()
    )
    assert len(outbox) == 3
    # Someone else is not affected.
    assert (
        Client(REMOTE_ADDR="198.51.100.8").post(PAGE, {"address": "z@example.org"}).status_code
        == 200
    )


def test_it_throttles_by_the_forwarded_client_behind_a_trusted_proxy(
    community, outbox, settings
) -> None:
    settings.THROTTLE_PER_CLIENT = 1
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = Client(REMOTE_ADDR="10.0.0.1")
    first = proxy.post(PAGE, {"address": "a@example.org"}, HTTP_X_FORWARDED_FOR="203.0.113.1")
    second = proxy.post(PAGE, {"address": "b@example.org"}, HTTP_X_FORWARDED_FOR="203.0.113.2")
    # A client cannot dodge the limit by sending its own X-Forwarded-For first.
    third = proxy.post(
        PAGE, {"address": "c@example.org"}, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.1"
    )
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]

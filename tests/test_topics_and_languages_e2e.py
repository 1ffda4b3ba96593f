"""Topics and languages through the Procfile's web and worker, signed webhooks, the real
twilio client and the fake API."""

from collections import Counter

import pytest

from tests.conftest import free_port, reply_text, wait_for

TOPICS = "baustellen=Baustellen und Sperrungen,stellen=Stellenangebote"


@pytest.fixture
def channel(env, twilio_api, start_web, start_worker):
    port = free_port()
    settings = dict(env, PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}", TOPICS=TOPICS,
                    LANGUAGES="de,en", SENDER_POLL_SECONDS="0.05")
    web = start_web(settings)
    start_worker(settings)
    return web


def say(person, body):
    response = person.send(body)
    assert response.status_code == 200
    return reply_text(response.text)


def broadcast(web, **payload):
    response = web.api("POST", "/api/broadcasts", json=payload)
    assert response.status_code == 202, response.text
    answer = response.json()
    wait_for(lambda: web.api("GET", f"/api/broadcasts/{answer['id']}").json()["status"]
             == "done", message=f"broadcast {answer['id']} done")
    return answer


def received(api, text):
    return Counter(m["To"].removeprefix("whatsapp:") for m in api.messages
                   if m.get("Body") == text)


def test_topic_broadcasts_reach_their_subscribers_and_urgent_ones_everyone(channel, twilio_api):
    everything, roads, jobs = channel.citizen(), channel.citizen(), channel.citizen()
    say(everything, "Start")
    assert "Baustellen" in say(roads, "start BAUSTELLEN")
    say(jobs, "Anmelden Stellenangebote!")
    broadcast(channel, text="B74 gesperrt", topics=["baustellen"])
    assert set(received(twilio_api, "B74 gesperrt")) == {everything.number, roads.number}
    broadcast(channel, text="Rathaus heute zu")
    assert set(received(twilio_api, "Rathaus heute zu")) == {everything.number}
    broadcast(channel, text="Hochwasser", urgent=True, topics=["stellen"])
    assert received(twilio_api, "Hochwasser") == Counter(
        {everything.number: 1, roads.number: 1, jobs.number: 1})


def test_each_reads_it_in_their_language_and_stop_answers_in_it(channel, twilio_api):
    german, english = channel.citizen(), channel.citizen()
    say(german, "Start")
    assert say(english, "Subscribe").startswith("Welcome")
    broadcast(channel, text="Straße frei", translations={"en": "Road open"})
    assert set(received(twilio_api, "Straße frei")) == {german.number}
    assert set(received(twilio_api, "Road open")) == {english.number}
    assert say(english, "Stop").startswith("You are unsubscribed")


def test_leaving_a_topic_mid_broadcast_wins_over_it(env, twilio_api, start_web, start_worker):
    port = free_port()
    settings = dict(env, PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}", TOPICS=TOPICS,
                    SEND_RATE_LIMIT="20")
    web = start_web(settings)
    people = [web.citizen() for _ in range(30)]
    for person in people:
        say(person, "Start baustellen")
        say(person, "Start stellen")
    answer = web.api("POST", "/api/broadcasts",
                     json={"text": "Umleitung", "topics": ["baustellen"]}).json()
    start_worker(settings)
    wait_for(lambda: len(twilio_api.messages) >= 3, message="the broadcast under way")
    leaving = people[-1]
    assert "keine Meldungen mehr zu: Baustellen" in say(leaving, "Stop baustellen")
    wait_for(lambda: web.api("GET", f"/api/broadcasts/{answer['id']}").json()["status"]
             == "done", timeout=30, message="the broadcast done")
    assert leaving.number not in received(twilio_api, "Umleitung")
    final = web.api("GET", f"/api/broadcasts/{answer['id']}").json()
    assert final["counts"]["skipped"] == 1 and final["counts"]["sent"] == 29

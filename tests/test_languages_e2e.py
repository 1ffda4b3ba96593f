"""Leichte Sprache, warnings in each citizen's language and "Neu", end to end on each platform:
the Procfile's web process (gunicorn) and worker, a real SQLite file, the platform's fake
(tests/fake_twilio.py with the real twilio client, tests/fake_meta.py), the fake NINA feed,
webhooks signed as the platform signs them.

One deployment per platform for the whole module (its tests run in the order written): three
citizens join in German, English and Leichte Sprache by writing to the number; a warning with
German, English and Leichte Sprache blocks reaches each once, in their language, as one
broadcast; then "Neu" answers with the newest posts.
"""

import pytest

from bot.platforms import meta
from tests import fake_meta
from tests.conftest import new_number, time_bound, wait_for
from tests.fake_nina import ARS, fake_nina  # noqa: F401
from tests.test_plan_end_to_end import Deployment, MetaSide, TwilioSide, settings

TEST_SECONDS = 90
EASY_TEMPLATE = "infokanal_leicht"
BLOCKS = {
    "en-US": ("Major fire in Osterholz-Scharmbeck", "Heavy smoke in Buschhausen.",
              "Keep windows and doors closed."),
    "de-LS": ("Großes Feuer in Osterholz-Scharmbeck", "Es gibt viel Rauch.",
              "Machen Sie die Fenster zu."),
}
HEADLINES = {"de": "Großbrand in Osterholz-Scharmbeck", "en": BLOCKS["en-US"][0],
             "de-LS": BLOCKS["de-LS"][0]}
JOIN = {"de": "Start", "en": "Subscribe", "de-LS": "Start Leichte Sprache"}


class EasyMetaSide(MetaSide):
    """Meta with a template of its own for Leichte Sprache, approved in German."""

    def __init__(self, web_url):
        super().__init__(web_url)
        self.fake.stop()
        self.fake = fake_meta.FakeMeta(
            webhook_url=web_url + meta.WEBHOOK_PATH,
            templates={fake_meta.TEMPLATE: {"language": "de", "parameters": 1},
                       "infokanal_broadcast_en": {"language": "en", "parameters": 1},
                       EASY_TEMPLATE: {"language": "de", "parameters": 1}}).start()
        self.env.update(META_API_URL=self.fake.url, META_TEMPLATE_DE_LS=EASY_TEMPLATE)


@pytest.fixture(scope="module", params=[TwilioSide, EasyMetaSide], ids=["twilio", "meta"])
def county(request, tmp_path_factory, fake_nina):  # noqa: F811
    fake_nina.reset()
    env, side = settings(tmp_path_factory.mktemp(request.param.name), request.param,
                         LANGUAGES="de,en,de-LS", WARNINGS_ARS=ARS,
                         WARNINGS_API_URL=fake_nina.url, WARNINGS_POLL_SECONDS="0.2",
                         WARNINGS_TIMEOUT_SECONDS="0.5")
    deployment = Deployment(env, side)
    deployment.feed = fake_nina
    deployment.people = {}
    yield deployment
    deployment.stop()


@pytest.fixture(autouse=True)
def bounded():
    with time_bound(TEST_SECONDS):
        yield


def test_three_citizens_join_in_three_languages(county):
    answers = {}
    for language, word in JOIN.items():
        county.people[language] = new_number()
        answers[language] = county.writes(county.people[language], word)
    assert answers["de"].startswith("Willkommen beim Infokanal")
    assert answers["en"].startswith("Welcome to the")
    assert answers["de-LS"].startswith("Willkommen!\n")
    with county.database() as conn:
        assert sorted(row[0] or "de" for row in conn.execute(
            "SELECT language FROM subscribers")) == ["de", "de-LS", "en"]


def test_a_warning_reaches_each_citizen_once_in_their_language_as_one_broadcast(county):
    warning_id = county.feed.add(severity="Severe", languages=BLOCKS)

    def warnings_out():
        return [m for m in county.side.messages() if m["template"]]

    sent = wait_for(lambda: len(warnings_out()) >= 3 and warnings_out(), timeout=30,
                    message="the warning to three citizens")
    wait_for(lambda: county.feed.dashboard_requests >= county.feed.first_listed[warning_id] + 3,
             timeout=20, message="three more polls")
    sent = warnings_out()
    assert len(sent) == 3, "once each, nothing twice"
    by_number = {m["to"]: m for m in sent}
    for language, number in county.people.items():
        assert by_number[number]["text"].startswith(HEADLINES[language]), (language, sent)
    if county.side.name == "meta":
        # Leichte Sprache goes out as its own template, which WhatsApp knows as German.
        assert by_number[county.people["de-LS"]]["template"] == EASY_TEMPLATE
        assert {m["language"] for m in county.side.fake.messages if m["template"]} == {
            "de", "en"}
    relayed = [b for b in county.api("GET", "/api/broadcasts").json()["broadcasts"]
               if b["source"] is not None]
    assert len(relayed) == 1 and relayed[0]["recipients"] == 3
    county.wait_status(relayed[0]["id"], "done")


def test_neu_answers_the_latest_posts_in_the_reader_s_language(county):
    posted = county.post(text="Die Müllabfuhr kommt am Samstag.",
                         translations={"en": "Waste is collected on Saturday.",
                                       "de-LS": "Die Müll-Abfuhr kommt am Samstag."})
    county.wait_status(posted["id"], "done")
    german = county.writes(county.people["de"], "Neu")
    assert german.startswith("Die neuesten Meldungen:\n\n")
    first, second = german.split("\n\n")[1:3]
    assert first.endswith(": Die Müllabfuhr kommt am Samstag.")
    assert HEADLINES["de"] in second
    english = county.writes(county.people["en"], "News")
    assert english.split("\n\n")[1].endswith(": Waste is collected on Saturday.")
    assert HEADLINES["en"] in english
    easy = county.writes(county.people["de-LS"], "Aktuell")
    assert easy.startswith("Die neuesten Nachrichten:\n\n")
    assert HEADLINES["de-LS"] in easy and len(easy) <= 1600

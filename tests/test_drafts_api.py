"""Drafts through the API: edited, sent or discarded, and only drafts; the relayed source."""

import pytest

from tests.conftest import ADMIN_TOKEN, database, scalar

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def draft(app, text="Amtliche WARNUNG vor GLÄTTE\n\nMehr Informationen: https://www.dwd.de"):
    """A draft as the warnings relay writes one."""
    from bot.store import broadcasts
    from bot.store.db import write

    with write(database(app)) as conn:
        return broadcasts.create(conn, text, urgent=True, created_by="nina", draft=True)[0]


def subscribe(citizen, n):
    for _ in range(n):
        assert citizen().send("Start").status_code == 200


def test_a_draft_can_be_edited_and_then_sent_to_everyone_subscribed_now(app, client, citizen):
    broadcast_id = draft(app)
    subscribe(citizen, 3)
    shown = client.get(f"/api/broadcasts/{broadcast_id}", headers=AUTH).json
    assert (shown["status"], shown["recipients"], shown["urgent"]) == ("draft", 0, True)
    edited = client.patch(f"/api/broadcasts/{broadcast_id}", headers=AUTH,
                          json={"text": "  Glätte im ganzen Landkreis.  ", "urgent": False})
    assert edited.status_code == 200, edited.json
    assert (edited.json["text"], edited.json["urgent"]) == ("Glätte im ganzen Landkreis.", False)
    assert scalar(app, "SELECT count(*) FROM deliveries") == 0, "a draft reaches nobody"
    sent = client.post(f"/api/broadcasts/{broadcast_id}/send", headers=AUTH)
    assert sent.status_code == 202
    assert (sent.json["status"], sent.json["recipients"]) == ("queued", 3)
    assert scalar(app, "SELECT count(*) FROM deliveries WHERE broadcast_id = ?",
                  broadcast_id) == 3
    again = client.post(f"/api/broadcasts/{broadcast_id}/send", headers=AUTH)
    assert again.status_code == 409 and "only a draft" in again.json["error"]
    assert scalar(app, "SELECT count(*) FROM deliveries") == 3, "sent once"


def test_a_discarded_draft_is_never_sent(app, client, citizen):
    subscribe(citizen, 1)
    broadcast_id = draft(app)
    discarded = client.post(f"/api/broadcasts/{broadcast_id}/discard", headers=AUTH)
    assert discarded.status_code == 200 and discarded.json["status"] == "discarded"
    assert discarded.json["finished_at"] is not None
    for path in ("send", "discard"):
        assert client.post(f"/api/broadcasts/{broadcast_id}/{path}", headers=AUTH
                           ).status_code == 409
    assert client.patch(f"/api/broadcasts/{broadcast_id}", headers=AUTH,
                        json={"text": "x"}).status_code == 409
    assert scalar(app, "SELECT count(*) FROM deliveries") == 0


def test_only_a_draft_can_be_edited_sent_or_discarded(app, client):
    queued = client.post("/api/broadcasts", headers=AUTH, json={"text": "Normal"}).json["id"]
    for method, path, kwargs in (("PATCH", "", {"json": {"text": "anders"}}),
                                 ("POST", "/send", {}), ("POST", "/discard", {})):
        response = client.open(f"/api/broadcasts/{queued}{path}", method=method, headers=AUTH,
                               **kwargs)
        assert response.status_code == 409, path
        assert response.json["error"].startswith(f"broadcast {queued} is queued")
    assert client.get(f"/api/broadcasts/{queued}", headers=AUTH).json["text"] == "Normal"
    for method, path in (("PATCH", ""), ("POST", "/send"), ("POST", "/discard")):
        assert client.open(f"/api/broadcasts/999{path}", method=method, headers=AUTH,
                           json={}).status_code == 404


def test_cancelling_a_draft_says_to_discard_it(app, client):
    broadcast_id = draft(app)
    response = client.post(f"/api/broadcasts/{broadcast_id}/cancel", headers=AUTH)
    assert response.status_code == 409 and "/discard" in response.json["error"]


@pytest.mark.parametrize("body, reason", [
    ({"text": ""}, "text is missing or empty"),
    ({"text": "x" * 1601}, "at most 1600"),
    ({"urgent": "ja"}, "urgent must be true or false"),
    ({"send_at": "2030-01-01T00:00:00"}, "only text and urgent"),
    (["text"], "expected a JSON object"),
])
def test_a_bad_edit_is_a_400_with_the_reason_and_changes_nothing(app, client, body, reason):
    broadcast_id = draft(app, text="Vorher")
    response = client.patch(f"/api/broadcasts/{broadcast_id}", headers=AUTH, json=body)
    assert response.status_code == 400 and reason in response.json["error"]
    after = client.get(f"/api/broadcasts/{broadcast_id}", headers=AUTH).json
    assert (after["text"], after["status"]) == ("Vorher", "draft")


def test_a_draft_too_long_for_the_template_is_refused_when_sent(config, citizen):
    from bot import create_app

    app = create_app(dict(config, BROADCAST_CONTENT_SID="HX" + "0" * 32))
    client = app.test_client()
    broadcast_id = draft(app, text="Sturm. " * 200)
    response = client.post(f"/api/broadcasts/{broadcast_id}/send", headers=AUTH)
    assert response.status_code == 400 and "at most 924" in response.json["error"]
    assert client.get(f"/api/broadcasts/{broadcast_id}", headers=AUTH).json["status"] == "draft"


def test_a_press_office_broadcast_has_no_source(client):
    answer = client.post("/api/broadcasts", headers=AUTH, json={"text": "Sperrung"}).json
    assert client.get(f"/api/broadcasts/{answer['id']}", headers=AUTH).json["source"] is None
    listed = client.get("/api/broadcasts", headers=AUTH).json["broadcasts"]
    assert listed[0]["source"] is None


def test_the_tokens_change_of_a_relayed_draft_is_marked_and_audited(app, client):
    """The token is the operator's machine and may change any draft (there are no editors on
    the API); a relayed warning it changes no longer passes for the authority's text."""
    broadcast_id = draft(app)
    shown = client.get(f"/api/broadcasts/{broadcast_id}", headers=AUTH).json
    assert shown["edited"] is False
    edited = client.patch(f"/api/broadcasts/{broadcast_id}", headers=AUTH,
                          json={"text": "Glätte: bitte vorsichtig fahren."})
    assert edited.status_code == 200 and edited.json["edited"] is True
    assert scalar(app, "SELECT edited_by FROM broadcasts WHERE id = ?", broadcast_id) == "api"
    details = scalar(app, "SELECT details FROM audit_log WHERE action = 'broadcast_edited' "
                          "AND actor = 'api' AND target = ?", f"broadcast:{broadcast_id}")
    assert '"author":"nina"' in details


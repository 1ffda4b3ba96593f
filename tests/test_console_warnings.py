"""Relayed official warnings in the console: listed with their source, cancelled like any
broadcast, and drafts edited and sent, or discarded."""

import asyncio

import pytest

from bot.delivery.chores import WarningRelay
from tests.conftest import Console, rows, scalar
from tests.fake_nina import ARS, fake_nina, nina_api  # noqa: F401


@pytest.fixture
def config(config, nina_api):
    return dict(config, WARNINGS_ARS=ARS, WARNINGS_API_URL=nina_api.url,
                WARNINGS_TIMEOUT_SECONDS=0.5)


def relay_once(app, **overrides):
    relay = WarningRelay.from_settings(dict(app.config, **overrides))

    async def run():
        try:
            assert await relay.poll()
        finally:
            await relay.close()

    asyncio.run(run())


def subscribe(citizen, n):
    for _ in range(n):
        assert citizen().send("Start").status_code == 200


def test_the_list_shows_relayed_warnings_with_their_source_and_the_drafts_waiting(
        app, console, nina_api):
    nina_api.add(severity="Extreme", provider="dwd", headline="Amtliche UNWETTERWARNUNG")
    nina_api.add(severity="Minor", headline="Glätte auf der K 10")
    relay_once(app)
    page = console.client.get("/admin").get_data(as_text=True)
    assert "1 Entwurf wartet auf Bearbeitung" in page
    assert "Amtliche Warnung · Deutscher Wetterdienst · Gefahr extrem" in page
    assert "Amtliche Warnung · MoWaS (Bevölkerungsschutz) · Gefahr gering" in page
    assert page.count(">Entwurf<") == 1


def test_a_relayed_warning_says_where_it_comes_from_and_can_be_cancelled(
        app, console, citizen, nina_api):
    subscribe(citizen, 2)
    warning_id = nina_api.add(severity="Severe")
    relay_once(app)
    broadcast_id = scalar(app, "SELECT broadcast_id FROM relayed_warnings")
    page = console.client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "Amtliche Warnung, weitergegeben aus NINA" in page and warning_id in page
    assert f'href="https://warnung.bund.de/meldungen/{warning_id}"' in page
    response = console.post(f"/admin/broadcasts/{broadcast_id}/cancel")
    assert response.status_code == 302
    assert scalar(app, "SELECT status FROM broadcasts WHERE id = ?", broadcast_id) == "cancelled"
    assert scalar(app, "SELECT count(*) FROM deliveries WHERE state = 'skipped'") == 2


def draft_id(app, nina_api):
    nina_api.add(severity="Moderate", headline="Hochwasser an der Hamme")
    relay_once(app)
    return scalar(app, "SELECT id FROM broadcasts WHERE status = 'draft'")


def test_what_is_in_the_box_is_what_goes_out(app, console, citizen, nina_api):
    subscribe(citizen, 3)
    broadcast_id = draft_id(app, nina_api)
    page = console.client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "noch an niemanden gesendet" in page and "<strong>3 Abonnentinnen und Abonnenten</strong>" in page
    assert 'id="counts"' not in page, "a draft has no deliveries to follow"
    response = console.post(f"/admin/broadcasts/{broadcast_id}/draft", {
        "text": "Hochwasser an der Hamme: Deiche nicht betreten.\r\nIhr Landkreis", "urgent": "1",
        "action": "send"})
    assert response.status_code == 302
    assert scalar(app, "SELECT text FROM broadcasts WHERE id = ?", broadcast_id) == (
        "Hochwasser an der Hamme: Deiche nicht betreten.\nIhr Landkreis")
    assert scalar(app, "SELECT status FROM broadcasts WHERE id = ?", broadcast_id) == "queued"
    assert scalar(app, "SELECT count(*) FROM deliveries WHERE broadcast_id = ?",
                  broadcast_id) == 3
    page = console.client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "Meldung wird an 3 Abonnentinnen und Abonnenten gesendet." in page
    again = console.post(f"/admin/broadcasts/{broadcast_id}/draft",
                         {"text": "Noch einmal", "action": "send"})
    assert again.status_code == 302
    assert scalar(app, "SELECT count(*) FROM deliveries") == 3, "sent once"


def test_a_draft_can_be_saved_without_sending(app, console, citizen, nina_api):
    subscribe(citizen, 1)
    broadcast_id = draft_id(app, nina_api)
    console.post(f"/admin/broadcasts/{broadcast_id}/draft", {"text": "Geändert", "action": "save"})
    assert scalar(app, "SELECT text FROM broadcasts WHERE id = ?", broadcast_id) == "Geändert"
    assert scalar(app, "SELECT status FROM broadcasts WHERE id = ?", broadcast_id) == "draft"
    assert scalar(app, "SELECT urgent FROM broadcasts WHERE id = ?", broadcast_id) == 0
    assert scalar(app, "SELECT count(*) FROM deliveries") == 0


def test_a_bad_edit_is_explained_in_german_and_changes_nothing(app, console, nina_api):
    broadcast_id = draft_id(app, nina_api)
    before = scalar(app, "SELECT text FROM broadcasts WHERE id = ?", broadcast_id)
    response = console.post(f"/admin/broadcasts/{broadcast_id}/draft",
                            {"text": "x" * 1601, "action": "send"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Der Text hat 1.601 Zeichen; erlaubt sind höchstens 1.600." in page
    assert "x" * 1601 in page, "the officer's text stays in the box"
    assert scalar(app, "SELECT text FROM broadcasts WHERE id = ?", broadcast_id) == before
    assert scalar(app, "SELECT status FROM broadcasts WHERE id = ?", broadcast_id) == "draft"


def test_a_draft_can_be_discarded(app, console, nina_api):
    broadcast_id = draft_id(app, nina_api)
    console.post(f"/admin/broadcasts/{broadcast_id}/discard")
    assert scalar(app, "SELECT status FROM broadcasts WHERE id = ?", broadcast_id) == "discarded"
    page = console.client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "verworfen" in page and 'id="send"' not in page


def test_a_draft_outdated_by_the_feed_is_not_sent(app, console, citizen, nina_api):
    subscribe(citizen, 1)
    warning_id = nina_api.add(severity="Minor", headline="Stromausfall")
    relay_once(app)
    outdated = scalar(app, "SELECT id FROM broadcasts WHERE status = 'draft'")
    nina_api.update(warning_id, description="Jetzt auch in Grasberg.")
    relay_once(app)
    console.post(f"/admin/broadcasts/{outdated}/draft", {"text": "Alt", "action": "send"})
    page = console.client.get(f"/admin/broadcasts/{outdated}").get_data(as_text=True)
    assert "Dieser Entwurf ist verworfen" in page
    assert scalar(app, "SELECT count(*) FROM deliveries") == 0


def test_draft_forms_need_the_csrf_token(app, console, nina_api):
    broadcast_id = draft_id(app, nina_api)
    for path in ("draft", "discard"):
        response = console.client.post(f"/admin/broadcasts/{broadcast_id}/{path}",
                                       data={"text": "Fremd", "action": "send"})
        assert response.status_code == 400
    assert scalar(app, "SELECT status FROM broadcasts WHERE id = ?", broadcast_id) == "draft"


def test_unknown_drafts_are_404(console):
    assert console.post("/admin/broadcasts/999/draft", {"text": "x"}).status_code == 404
    assert console.post("/admin/broadcasts/999/discard").status_code == 404


def test_only_a_publisher_changes_a_relayed_warning_and_the_change_is_marked(
        app, console, runner, nina_api):
    broadcast_id = draft_id(app, nina_api)
    official = scalar(app, "SELECT text FROM broadcasts WHERE id = ?", broadcast_id)
    page = f"/admin/broadcasts/{broadcast_id}"
    result = runner.invoke(args=["users", "add", "erika", "--role", "editor",
                                 "--password-stdin"], input="ein-langes-Passwort-2\n")
    assert result.exit_code == 0, result.output
    editor = Console(app.test_client())
    assert editor.sign_in("erika", "ein-langes-Passwort-2").status_code == 302
    forged = editor.post(f"{page}/draft", {"text": "EVAKUIERUNG SOFORT!", "action": "save"},
                         token_page=page)
    assert forged.status_code == 403
    assert "Veröffentlichen" in forged.get_data(as_text=True)
    assert scalar(app, "SELECT text FROM broadcasts WHERE id = ?", broadcast_id) == official
    assert scalar(app, "SELECT count(*) FROM audit_log WHERE actor = 'erika' AND target = ?",
                  f"broadcast:{broadcast_id}") == 0

    # The publisher may, and from then on the badge says that the text was changed.
    assert console.post(f"{page}/draft", {"text": "Hochwasser: Deiche nicht betreten.",
                                          "action": "save"}).status_code == 302
    assert rows(app, "SELECT text, edited_by FROM broadcasts WHERE id = ?", broadcast_id) == [
        ("Hochwasser: Deiche nicht betreten.", "presse")]
    detail = console.client.get(page).get_data(as_text=True)
    badge = detail[detail.index('id="source"'):detail.index("Bei NINA ansehen")]
    assert "Bearbeitet von presse" in badge
    listing = console.client.get("/admin").get_data(as_text=True)
    assert "bearbeitet von presse" in listing
    (details,) = rows(app, "SELECT details FROM audit_log WHERE action = 'broadcast_edited' "
                           "AND actor = 'presse' AND target = ?", f"broadcast:{broadcast_id}")[0]
    assert '"author":"nina"' in details


def test_warnings_held_back_by_the_cap_per_poll_are_drafts_the_console_explains(
        app, console, nina_api):
    for n in range(4):
        nina_api.add(severity="Severe", headline=f"Unwetter im Teufelsmoor {n}")
    relay_once(app, WARNINGS_MAX_PER_POLL=2)
    page = console.client.get("/admin").get_data(as_text=True)
    assert "2 Entwürfe warten auf Bearbeitung" in page
    assert "2 amtliche Warnungen wurden zurückgehalten:" in page
    assert "Aus einem Abruf gehen höchstens 5 Warnungen von selbst an alle." in page, \
        "the setting of the console's own configuration"
    assert page.count(", zurückgehalten)") == 2
    held = scalar(app, "SELECT broadcast_id FROM relayed_warnings WHERE held_back = 1 "
                       "ORDER BY id LIMIT 1")
    page = console.client.get(f"/admin/broadcasts/{held}").get_data(as_text=True)
    assert 'id="held-back"' in page and "Diese Warnung wäre von selbst an alle gegangen." in page
    sent = scalar(app, "SELECT broadcast_id FROM relayed_warnings WHERE held_back = 0 LIMIT 1")
    assert 'id="held-back"' not in console.client.get(f"/admin/broadcasts/{sent}").get_data(
        as_text=True)
    assert "zurückgehalten" not in console.client.get("/admin").get_data(as_text=True).split(
        'id="list-heading"')[1], "the list of broadcasts stays as it was"

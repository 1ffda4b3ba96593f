"""The console's admin pages and the password page in Debian's Chromium, at a desk (1280 px)
and on a phone (390 px): the audit trail reads as German, a card per entry on the phone, times
on one line and no word broken; every control of the accounts page within reach; the password
form from the menu to the end of the sessions elsewhere; axe-core at each step.

It shares the press office's server and accounts (``test_browser_press_office``), started
anew for this module.
"""

import re

import pytest
from playwright.sync_api import expect

from bot import create_app
from tests.accessibility import check
from tests.test_browser import PHONE, browser  # noqa: F401 - the module's browser
from tests.test_browser_press_office import (DESKTOP, PASSWORD, contexts, office,  # noqa: F401
                                             platform, sign_in)

# Words, and "06.12.2026, 20:46 Uhr", split across lines; code (hashes) may break anywhere.
BROKEN_WORDS = """(root) => {
  const broken = [];
  const lines = range => new Set([...range.getClientRects()].filter(r => r.width > 0)
                                 .map(r => Math.round(r.top))).size;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest('code')) continue;
    for (const match of node.data.matchAll(/[^\\s\\-–]+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      if (lines(range) > 1) broken.push(match[0]);
    }
  }
  for (const time of root.querySelectorAll('td.time, .nowrap')) {
    const range = document.createRange();
    range.selectNodeContents(time);
    if (lines(range) > 1) broken.push(time.textContent);
  }
  return broken;
}"""


# Scroll the window (only vertically) to the element; returns the boxes around it that scroll
# sideways (wider content than they show), which would hide part of their content.
SCROLLED_VERTICALLY_TO = """e => {
  const r = e.getBoundingClientRect();
  window.scrollTo(0, window.scrollY + r.top - window.innerHeight / 3);
  const boxes = [];
  for (let box = e.parentElement; box; box = box.parentElement) {
    const style = getComputedStyle(box);
    if (['auto', 'scroll'].includes(style.overflowX) && box.scrollWidth > box.clientWidth + 1)
      boxes.push(box.tagName + '.' + box.className);
  }
  return boxes;
}"""


def no_sideways_scroll(page, width):
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "no sideways scroll"


# A tablet upright: just above the width where the table becomes cards.
TABLET = {"width": 834, "height": 1112}


@pytest.mark.parametrize("viewport", [DESKTOP, TABLET, PHONE], ids=["1280px", "834px", "390px"])
def test_the_audit_trail_reads_as_german_on_a_desk_and_on_a_phone(office, contexts, viewport,
                                                                  tmp_path):
    env, server = office
    width = viewport["width"]
    # Something with details: a broadcast, and a failed sign-in (its entry comes with the
    # sign-in from the same address that follows).
    server.api("POST", "/api/broadcasts", json={"text": "Probealarm im Browser",
                                                "public": False})
    page = contexts(viewport)
    page.goto(server.url + "/admin/login")
    page.get_by_label("Name").fill("anna")
    page.get_by_label("Passwort").fill("falsch-geraten-123")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("alert")).to_contain_text("Name oder Passwort stimmt nicht.")
    sign_in(page, server, "anna", "/admin/audit")
    table = page.locator("#audit")
    failed = table.locator("tr", has=page.locator('[data-action="signin_failed"]')).first
    expect(failed).to_contain_text("Anmeldung fehlgeschlagen")
    expect(failed).to_contain_text("Grund: falsches Passwort")
    expect(failed).to_contain_text("Versuche: 1")
    created = table.locator("tr", has=page.locator('[data-action="broadcast_created"]')).first
    expect(created).to_contain_text("öffentlich: nein")
    expect(created).to_contain_text("mit Bild: nein")
    page.screenshot(path=str(tmp_path / f"audit-{width}.png"), full_page=True)
    no_sideways_scroll(page, width)
    assert page.evaluate(BROKEN_WORDS, table.element_handle()) == []
    cells = table.locator("tbody td").evaluate_all(
        "cells => cells.filter(c => c.getClientRects().length).map(c => [c.dataset.label, "
        "c.getBoundingClientRect().left, c.getBoundingClientRect().right])")
    # A cell as wide as the card on a phone (its name beside or above the value), a readable
    # column on a desk; none squeezed to a letter per line.
    least = 250 if width < 500 else 36
    for label, left, right in cells:
        assert right - left >= least, (label, right - left)
        assert left >= 0 and right <= width, (label, left, right)
    if width < 500:
        # The card names each value: the column's name is shown before it.
        before = failed.locator('[data-label="Was"]').evaluate(
            "c => getComputedStyle(c, '::before').content")
        assert before == '"Was"'
    check(page, f"(audit trail at {width}px)")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_every_control_of_the_accounts_page_is_within_reach(office, contexts, viewport,
                                                           tmp_path):
    env, server = office
    width = viewport["width"]
    page = contexts(viewport)
    sign_in(page, server, "anna", "/admin/accounts")
    page.screenshot(path=str(tmp_path / f"accounts-{width}.png"), full_page=True)
    no_sideways_scroll(page, width)
    controls = page.locator("#accounts select, #accounts button")
    # Role and delete for each of the other accounts.
    assert controls.count() >= 2 * 3
    for control in controls.all():
        expect(control).to_be_visible()
        # Scrolled to only up or down, as a thumb does: nothing sideways, in no box.
        assert control.evaluate(SCROLLED_VERTICALLY_TO) == [], "in a sideways-scrolling box"
        box = control.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (control.text_content(), box)
        assert box["height"] >= 24
        # Nothing covers it, and no box clips it: the point at its middle is it.
        assert control.evaluate(
            "e => { const r = e.getBoundingClientRect(); const at = document.elementFromPoint("
            "r.left + r.width / 2, r.top + r.height / 2); return at === e || e.contains(at); }")
    row = page.locator('tr[data-account="erika"]')
    row.get_by_label("Rolle von erika").select_option("editor")
    row.get_by_role("button", name="Rolle ändern").click()
    expect(page.locator('tr[data-account="erika"] [data-role]')).to_have_text("Redaktion")
    check(page, f"(accounts at {width}px)")


def test_a_press_officer_changes_the_password_and_is_signed_out_elsewhere(office, contexts,
                                                                          tmp_path):
    env, server = office
    result = create_app(dict(env)).test_cli_runner().invoke(
        args=["users", "add", "lena", "--role", "editor", "--password-stdin"],
        input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    desk = contexts(DESKTOP)
    sign_in(desk, server, "lena")
    phone = contexts()
    sign_in(phone, server, "lena")
    phone.get_by_role("navigation", name="Konsole").get_by_role(
        "link", name="Passwort ändern").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Passwort ändern")
    check(phone, "(password form)")
    new = "ein-neuer-langer-Satz-4"
    phone.get_by_label("Bisheriges Passwort").fill("nicht-das-richtige")
    phone.get_by_label("Neues Passwort", exact=True).fill(new)
    phone.get_by_label("Neues Passwort noch einmal").fill(new)
    phone.get_by_role("button", name="Passwort ändern").click()
    expect(phone.get_by_role("alert")).to_have_text("Ihr bisheriges Passwort stimmt nicht.")
    check(phone, "(password form, wrong old password)")
    phone.get_by_label("Bisheriges Passwort").fill(PASSWORD)
    phone.get_by_label("Neues Passwort", exact=True).fill(new)
    phone.get_by_label("Neues Passwort noch einmal").fill(new)
    phone.get_by_role("button", name="Passwort ändern").click()
    expect(phone.get_by_role("status")).to_have_text(re.compile("^Ihr Passwort ist geändert."))
    phone.screenshot(path=str(tmp_path / "password-390.png"), full_page=True)
    check(phone, "(password changed)")
    no_sideways_scroll(phone, PHONE["width"])
    # This browser stays signed in; the one at the desk is signed out.
    phone.goto(server.url + "/admin")
    expect(phone).to_have_url(server.url + "/admin")
    desk.goto(server.url + "/admin")
    expect(desk).to_have_url(re.compile(r"/admin/login\?next=/admin$"))
    desk.get_by_label("Name").fill("lena")
    desk.get_by_label("Passwort").fill(new)
    desk.get_by_role("button", name="Anmelden").click()
    expect(desk).to_have_url(server.url + "/admin")

"""gunicorn's access log (``ACCESS_LOG``): every line intact (time, status, size and duration as
gunicorn wrote them) and only what a client wrote masked: phone numbers in the request line, and
every parameter that may carry a credential, also inside an escaped address in ``next=``."""

import logging
import re

import pytest
from gunicorn.glogging import SafeAtoms

from bot.logs import ACCESS_FORMAT, AccessFormatter
from tests.conftest import ADMIN_TOKEN, wait_for

# What gunicorn writes with our format: [time] "request line" status size durationms
LINE = re.compile(r'^\[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "([^"]*)" (\d{3}) (\d+|-) '
                  r'(\d+)ms$')
SECRET = "s3cr3t-value-9876543"


def access_line(request_line, status="200", size="2309", time="06/Dec/2026:21:07:13 +0000",
                duration=12, fmt=ACCESS_FORMAT):
    """A record as gunicorn's logger hands it to the access handler: the format and the atoms
    (SafeAtoms, with its own escaping)."""
    atoms = SafeAtoms({"t": f"[{time}]", "r": request_line, "s": status, "b": size,
                       "M": duration, "U": request_line.split(" ")[1].partition("?")[0],
                       "q": request_line.split(" ")[1].partition("?")[2], "f": "-",
                       "a": "curl/8", "{authorization}i": f"Bearer {SECRET}"})
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, fmt, atoms, None)
    return AccessFormatter("%(message)s").format(record)


@pytest.mark.parametrize("status, size, time", [
    ("200", "2309", "06/Dec/2026:21:07:13 +0000"),
    ("404", "1234567", "06/Dec/2026:21:07:13 +0100"),
    ("201", "49151123", "31/Dec/2026:23:59:59 -0500"),
])
def test_the_time_status_and_size_are_written_as_they_are(status, size, time):
    line = access_line("GET /api/stats HTTP/1.1", status, size, time)
    assert line == f'[{time}] "GET /api/stats HTTP/1.1" {status} {size} 12ms'


@pytest.mark.parametrize("query, shown", [
    (f"pw={SECRET}", "pw=[redacted]"),
    (f"sig={SECRET}", "sig=[redacted]"),
    (f"token={SECRET}", "token=[redacted]"),
    (f"password={SECRET}&x=1", "password=[redacted]&x=1"),
    (f"signature={SECRET}", "signature=[redacted]"),
    (f"key={SECRET}", "key=[redacted]"),
    (f"api_key={SECRET}", "api_key=[redacted]"),
    (f"secret={SECRET}", "secret=[redacted]"),
    (f"code={SECRET}", "code=[redacted]"),
    (f"Token={SECRET}", "Token=[redacted]"),
    (f"%74oken={SECRET}", "token=[redacted]"),  # an escaped name
    (f"a=1;sig={SECRET}", "a=1;sig=[redacted]"),
    (f"next=%2Fadmin%3Ftoken%3D{SECRET}", "next=/admin?token=[redacted]"),
    (f"next=%2Fadmin%3Fx%3D1%26pw%3D{SECRET}", "next=/admin?x=1&pw=[redacted]"),
    (f"next=%252Fadmin%253Fsig%253D{SECRET}", "next=/admin?sig=[redacted]"),  # twice escaped
    (f"next=/admin?token={SECRET}", "next=/admin?token=[redacted]"),
    ("next=%2Fadmin%2Fcompose", "next=/admin/compose"),
])
def test_secret_parameters_are_redacted(query, shown):
    line = access_line(f"GET /admin/login?{query} HTTP/1.1")
    assert SECRET not in line and "s3cr3t" not in line
    assert line == (f'[06/Dec/2026:21:07:13 +0000] "GET /admin/login?{shown} HTTP/1.1" '
                    '200 2309 12ms')


@pytest.mark.parametrize("query, shown", [
    ("to=%2B4915112345678", "to=+49151•••5678"),
    ("to=0151%2012345678", "to=0151•••5678"),
])
def test_phone_numbers_in_the_request_line_are_masked(query, shown):
    line = access_line(f"GET /healthz?{query} HTTP/1.1", size="2309")
    assert line == f'[06/Dec/2026:21:07:13 +0000] "GET /healthz?{shown} HTTP/1.1" 200 2309 12ms'


def test_a_request_cannot_write_a_line_of_its_own_or_end_the_quotes():
    line = access_line('GET /x?a=%0A%5B06/Dec/2026%5D%20%22GET%20/%22%20200 HTTP/1.1')
    assert "\n" not in line and "\\x0a" in line
    assert LINE.match(line).group(2) == "GET /x?a=\\x0a[06/Dec/2026] %22GET /%22 200 HTTP/1.1"


def test_headers_that_carry_credentials_are_redacted_in_a_format_that_shows_them():
    line = access_line(f"GET /api/stats?token={SECRET} HTTP/1.1",
                       fmt=ACCESS_FORMAT + ' "%({authorization}i)s" "%(q)s" "%(a)s"')
    assert SECRET not in line
    assert line.endswith('12ms "[redacted]" "token=[redacted]" "curl/8"')


def test_a_plain_message_is_taken_as_a_request_line():
    line = AccessFormatter("%(message)s").format(logging.LogRecord(
        "x", logging.INFO, __file__, 1, f"GET /x?pw={SECRET}&to=%2B4915112345678 HTTP/1.1", None,
        None))
    assert line == "GET /x?pw=[redacted]&to=+49151•••5678 HTTP/1.1"


def test_gunicorn_from_the_procfile_writes_intact_masked_lines(env, start_web, tmp_path):
    log_path = tmp_path / "access.log"
    web = start_web(dict(env, ACCESS_LOG=str(log_path)))
    number = "+4915170000001"
    requests_made = [
        web.session.get(web.url + "/healthz", params={"to": number, "pw": SECRET}),
        web.session.get(web.url + "/admin/login", params={"sig": SECRET}),
        web.session.get(web.url + f"/admin/login?next=%2Fadmin%3Ftoken%3D{SECRET}",
                        allow_redirects=False),
        web.api("GET", "/api/stats", params={"signature": SECRET}),
        web.session.get(web.url + "/nirgendwo", params={"code": SECRET}),
    ]
    wait_for(lambda: log_path.exists() and log_path.read_text().count("\n")
             >= len(requests_made) + 1, timeout=10, message="access lines")
    text = log_path.read_text()
    assert SECRET not in text and "s3cr3t" not in text and ADMIN_TOKEN not in text
    assert "4915170000001" not in text and "70000001" not in text
    lines = text.splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), "\n".join(line for line, found in zip(lines, parsed) if not found)
    # The start's health checks come first; the requests above are the last lines, in order.
    for response, found in zip(requests_made, parsed[-len(requests_made):]):
        assert found.group(3) == str(response.status_code)
        assert found.group(4) == str(len(response.content)), found.group(0)
    shown = [found.group(2) for found in parsed[-len(requests_made):]]
    assert shown == [
        "GET /healthz?to=+49151•••0001&pw=[redacted] HTTP/1.1",
        "GET /admin/login?sig=[redacted] HTTP/1.1",
        "GET /admin/login?next=/admin?token=[redacted] HTTP/1.1",
        "GET /api/stats?signature=[redacted] HTTP/1.1",
        "GET /nirgendwo?code=[redacted] HTTP/1.1",
    ]

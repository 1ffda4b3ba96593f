"""The sender's HTTP client (bot.http_client) against small servers on loopback that misbehave
on purpose: kept-alive connections, answers of every framing, drops, hangs, limits, TLS."""

import asyncio
import ssl

import pytest

from bot.http_client import HttpError, Pool
from tests.certificates import self_signed

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"ok": true}'


class Server:
    """Reads each request whole (head and Content-Length body), then lets ``answer`` reply:
    it gets (reader, writer, the request's bytes) and returns False to close the
    connection."""

    def __init__(self, answer):
        self.answer = answer
        self.connections = 0
        self.requests = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def start(self, ssl_context=None):
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl_context)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}/2010-04-01/x.json"
        return self

    async def _serve(self, reader, writer):
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                try:
                    keep = await self.answer(reader, writer, request)
                finally:
                    self.in_flight -= 1
                await writer.drain()
                if keep is False:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed it
        finally:
            writer.close()

    async def stop(self):
        self._server.close()
        await self._server.wait_closed()


async def ok(reader, writer, request):
    writer.write(OK)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


async def two_requests(answer):
    """Two requests one after the other on one pool: (the server, the first answer, the
    second)."""
    server = await Server(answer).start()
    pool = Pool()
    first = await pool.request("POST", server.url, {}, b"x")
    second = await pool.request("POST", server.url, {}, b"x")
    await pool.close()
    return server, first, second


def test_a_broadcasts_requests_share_one_kept_alive_connection():
    async def scenario():
        server = await Server(ok).start()
        pool = Pool()
        answers = [await pool.request("POST", server.url, {"Accept": "application/json"},
                                      b"To=whatsapp%3A%2B49151&Body=Hallo")
                   for _ in range(50)]
        await pool.close()
        await server.stop()
        return server, pool, answers

    server, pool, answers = run(scenario())
    assert {(a.status, a.body) for a in answers} == {(200, b'{"ok": true}')}
    assert answers[0].headers["content-type"] == "application/json"
    assert server.connections == 1 and pool.opened == 1
    first = server.requests[0]
    assert first.startswith(b"POST /2010-04-01/x.json HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nAccept: application/json\r\n" in first
    assert first.endswith(b"\r\nContent-Length: 33\r\n\r\nTo=whatsapp%3A%2B49151&Body=Hallo")


def test_an_answer_that_says_close_ends_its_connection():
    async def answer(reader, writer, request):
        writer.write(b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        return False

    async def scenario():
        server = await Server(answer).start()
        pool = Pool()
        statuses = [(await pool.request("POST", server.url, {}, b"x")).status for _ in range(3)]
        await pool.close()
        return server, statuses

    server, statuses = run(scenario())
    assert statuses == [201, 201, 201]
    assert server.connections == 3


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHallo\r\n6\r\n Welt!\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHallo Welt!",  # the end is the close
], ids=["chunked", "until-close"])
def test_answers_of_either_framing_are_read_whole(raw):
    async def answer(reader, writer, request):
        writer.write(raw)
        return b"chunked" in raw

    server, first, second = run(two_requests(answer))
    assert first.body == second.body == b"Hallo Welt!"
    assert server.connections == (1 if b"chunked" in raw else 2)


def test_a_connection_dropped_before_the_answer_is_an_error_and_is_not_used_again():
    async def answer(reader, writer, request):
        if len(server.requests) == 2:
            return False  # read the request, answer nothing, close
        writer.write(OK)

    async def scenario():
        pool = Pool()
        first = await pool.request("POST", server.url, {}, b"x")
        with pytest.raises(HttpError, match="closed before the answer"):
            await pool.request("POST", server.url, {}, b"x")
        third = await pool.request("POST", server.url, {}, b"x")
        await pool.close()
        return first, third

    server = Server(answer)

    async def main():
        await server.start()
        return await scenario()

    first, third = run(main())
    assert first.status == third.status == 200
    assert server.connections == 2


def test_a_hung_request_times_out_and_its_connection_is_closed():
    async def answer(reader, writer, request):
        if len(server.requests) == 1 and await reader.read(1) == b"":
            gave_up.append(True)  # answered nothing until the client gave up
            return False
        writer.write(OK)

    server, gave_up = Server(answer), []

    async def scenario():
        await server.start()
        pool = Pool(timeout=0.3)
        with pytest.raises(TimeoutError):
            await pool.request("POST", server.url, {}, b"x")
        for _ in range(100):
            if gave_up:
                break
            await asyncio.sleep(0.02)
        second = await pool.request("POST", server.url, {}, b"x")
        await pool.close()
        return second

    assert run(scenario()).status == 200
    assert gave_up == [True]
    assert server.connections == 2


def test_a_refused_connection_is_an_error():
    async def scenario():
        server = await Server(ok).start()
        url = server.url
        await server.stop()
        pool = Pool()
        with pytest.raises(HttpError, match="cannot connect"):
            await pool.request("POST", url, {}, b"x")

    run(scenario())


def test_a_connection_idle_longer_than_the_limit_is_not_used():
    async def scenario():
        server = await Server(ok).start()
        pool = Pool(idle_seconds=0.1)
        await pool.request("POST", server.url, {}, b"x")
        await pool.request("POST", server.url, {}, b"x")
        await asyncio.sleep(0.25)
        await pool.request("POST", server.url, {}, b"x")
        await pool.close()
        return server

    assert run(scenario()).connections == 2


def test_a_connection_the_server_closed_while_idle_is_not_used():
    async def answer(reader, writer, request):
        writer.write(OK)
        return False  # closes after the answer without saying so

    async def scenario():
        server = await Server(answer).start()
        pool = Pool()
        await pool.request("POST", server.url, {}, b"x")
        await asyncio.sleep(0.1)  # the close reaches the client
        second = await pool.request("POST", server.url, {}, b"x")
        await pool.close()
        return server, second

    server, second = run(scenario())
    assert second.status == 200
    assert server.connections == 2


@pytest.mark.parametrize("raw,reason", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000, "larger than 1000"),
    (b"SMTP ready\r\n\r\n", "not HTTP"),
], ids=["too-large", "not-http"])
def test_an_answer_that_cannot_be_used_is_an_error(raw, reason):
    async def answer(reader, writer, request):
        writer.write(raw)

    async def scenario():
        server = await Server(answer).start()
        pool = Pool(max_body=1000)
        with pytest.raises(HttpError, match=reason):
            await pool.request("POST", server.url, {}, b"x")
        await pool.close()
        return server

    assert run(scenario()).requests  # it was sent, and refused on the way back


@pytest.mark.parametrize("url,headers", [
    ("http://127.0.0.1:9/x", {"X-Test": "a\r\nInjected: yes"}),
    ("http://127.0.0.1:9/x", {"X-Test\nB": "a"}),
    ("ftp://127.0.0.1/x", {}),
])
def test_a_request_that_cannot_be_written_safely_is_refused_before_any_connection(url, headers):
    async def scenario():
        pool = Pool()
        with pytest.raises(ValueError):
            await pool.request("POST", url, headers, b"x")
        return pool

    assert run(scenario()).opened == 0


def test_no_more_requests_than_the_limit_are_in_flight():
    async def answer(reader, writer, request):
        await asyncio.sleep(0.05)
        writer.write(OK)

    async def scenario():
        server = await Server(answer).start()
        pool = Pool(limit=3)
        answers = await asyncio.gather(*(pool.request("POST", server.url, {}, b"x")
                                         for _ in range(12)))
        await pool.close()
        return server, answers

    server, answers = run(scenario())
    assert len(answers) == 12 and {a.status for a in answers} == {200}
    assert server.most_in_flight == 3
    assert server.connections == 3


def test_https_is_spoken_and_its_certificate_checked(tmp_path):
    cert_file, key_file = self_signed(tmp_path, "127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))

    async def scenario():
        server = await Server(ok).start(server_context)
        pool = Pool(ssl_context=trusting)
        answers = [await pool.request("POST", server.url, {}, b"x") for _ in range(3)]
        await pool.close()
        stranger = Pool()  # the system's certificates, which do not know this one
        with pytest.raises(HttpError, match="cannot connect"):
            await stranger.request("POST", server.url, {}, b"x")
        return server, answers

    server, answers = run(scenario())
    assert [a.status for a in answers] == [200, 200, 200]
    assert server.connections == 1  # kept alive for all three (the refused one never got far)


def test_a_second_answer_glued_to_the_first_closes_the_connection():
    async def answer(reader, writer, request):
        writer.write(OK + OK)  # one request, two answers: the second is nobody's

    server, first, second = run(two_requests(answer))
    assert first.status == second.status == 200
    assert server.connections == 2  # the first connection was not trusted again

"""The sender's HTTP path alone: CPU per message of the twilio client over our HTTP client
against the same client over twilio's stock aiohttp one, side by side in one run.

Each variant sends ``--messages`` messages (after a warm-up) through ``TwilioTransport.send``
to the fake Twilio in its own process, ``--concurrency`` at once, on uvloop as the worker does;
the variants alternate for ``--rounds`` rounds. Printed: the sender's CPU per message (user +
system, from /proc), its rate, and the fake's CPU per message in the same round.

    python bench/send_path.py [--messages 10000] [--rounds 3] [--latency 0.02]
"""

import argparse
import asyncio
import os
import statistics
import time

import uvloop
from common import cpu_seconds, fake_stats, start_fake_twilio  # noqa: I001 (bench/ on the path)

from bot import twilio_gateway as gateway
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

FROM = "whatsapp:+4930901820"
CALLBACK = "http://127.0.0.1:9/twilio/status"  # never called: the fake posts none here
TEXT = "Unwetterwarnung: Orkanböen bis 120 km/h. Bleiben Sie im Haus. Mehr: landkreis.de"


def ours(api_url):
    return gateway.TwilioTransport(ACCOUNT_SID, AUTH_TOKEN, FROM, api_url=api_url,
                                   status_callback=CALLBACK)


def stock(api_url):
    """The same transport over twilio's own AsyncTwilioHttpClient (aiohttp), as shipped, with
    as many connections as ours may open."""
    import aiohttp
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    transport = ours(api_url)
    transport._http = AsyncTwilioHttpClient(pool_connections=False, timeout=15)
    transport._http.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
    transport._client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=transport._http)
    transport._client.api.base_url = api_url
    return transport


async def send_all(make, api_url, count, concurrency, first):
    transport = make(api_url)
    slots = asyncio.Semaphore(concurrency)

    async def one(number):
        async with slots:
            await transport.send(gateway.OutgoingMessage(to=f"+49151{number:08d}", body=TEXT))

    await asyncio.gather(*(one(first + i) for i in range(500)))  # connections, caches
    cpu, wall = cpu_seconds(os.getpid()), time.perf_counter()
    await asyncio.gather(*(one(first + 500 + i) for i in range(count)))
    cpu, wall = cpu_seconds(os.getpid()) - cpu, time.perf_counter() - wall
    await transport.close()
    return cpu / count, count / wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=150)
    parser.add_argument("--latency", type=float, default=0.02, help="the fake's answer time")
    args = parser.parse_args()
    fake = start_fake_twilio(args.latency)
    results = {"ours": [], "stock": []}
    try:
        first = 0
        for _ in range(args.rounds):
            for name, make in (("ours", ours), ("stock", stock)):
                fake_cpu, before = cpu_seconds(fake.pid), fake_stats(fake)["requests"]
                per_message, rate = uvloop.run(send_all(make, fake.url, args.messages,
                                                        args.concurrency, first))
                handled = fake_stats(fake)["requests"] - before
                fake_per = (cpu_seconds(fake.pid) - fake_cpu) / handled
                first += args.messages + 500
                results[name].append(per_message)
                print(f"{name:>5}: sender {per_message * 1e6:6.1f} µs per message, "
                      f"{rate:,.0f}/s; fake {fake_per * 1e6:5.1f} µs", flush=True)
    finally:
        fake.stop()
    mine, theirs = statistics.median(results["ours"]), statistics.median(results["stock"])
    print(f"median: ours {mine * 1e6:.1f} µs, twilio's aiohttp client {theirs * 1e6:.1f} µs "
          f"per message: {mine / theirs:.2f} of it")


if __name__ == "__main__":
    main()

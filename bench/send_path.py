"""The sender's HTTP path alone: CPU per message of the twilio client over our HTTP client
against the same client over twilio's stock aiohttp one, side by side in one run.

Each variant sends ``--messages`` messages (after a warm-up) through ``TwilioTransport.send``
to the fake Twilio in its own process, ``--concurrency`` at once, on uvloop as the worker does;
the variants alternate for ``--rounds`` rounds. Printed: the sender's CPU per message (user +
system, from /proc), its rate, and the fake's CPU per message in the same round.

    python bench/send_path.py [--messages 10000] [--rounds 3] [--latency 0.02] [--template]

``--template``: in template mode, a relayed warning of four paragraphs, each a variable of the
paragraph template that takes four (the fake checks every variable as WhatsApp does).
"""

import argparse
import asyncio
import os
import statistics
import time

import uvloop
from common import (  # noqa: I001 (bench/ on the path)
    cpu_seconds, fake_config, fake_stats, start_fake_twilio)

from bot.platforms import twilio as gateway
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

FROM = "whatsapp:+4930901820"
CALLBACK = "http://127.0.0.1:9/twilio/status"  # never called: the fake posts none here
TEXT = "Unwetterwarnung: Orkanböen bis 120 km/h. Bleiben Sie im Haus. Mehr: landkreis.de"
WARNING = ("Amtliche Unwetterwarnung vor Orkanböen\n\nEs treten Orkanböen mit Geschwindigkeiten "
           "um 120 km/h auf.\nDabei kann es zu schweren Schäden kommen.\n\nHalten Sie sich "
           "nicht im Freien auf. Schließen Sie Fenster und Türen.\n\nMehr Informationen: "
           "https://warnung.bund.de/meldungen/dwdmap.2.49.0.0.276.0.DWD.PVW.1")
TEMPLATES = {"content_sid": "HX" + "1" * 32,
             "paragraph_sids": {None: {2: "HX" + "2" * 32, 3: "HX" + "3" * 32,
                                       4: "HX" + "4" * 32}}}
TEMPLATE_MODE = {}  # set by --template: the transport's templates


def ours(api_url):
    return gateway.TwilioTransport(ACCOUNT_SID, AUTH_TOKEN, FROM, api_url=api_url,
                                   status_callback=CALLBACK, **TEMPLATE_MODE)


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
            await transport.send(gateway.OutgoingMessage(
                to=f"+49151{number:08d}", body=WARNING if TEMPLATE_MODE else TEXT))

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
    parser.add_argument("--template", action="store_true",
                        help="template mode: a warning of four paragraphs as four variables")
    args = parser.parse_args()
    fake = start_fake_twilio(args.latency)
    if args.template:
        TEMPLATE_MODE.update(TEMPLATES)
        sids = TEMPLATES["paragraph_sids"][None]
        fake_config(fake, templates={sid: count for count, sid in sids.items()})
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
        if args.template:
            print(f"refused by the fake: {fake_stats(fake)['refused'] or 'none'}")
    finally:
        fake.stop()
    mine, theirs = statistics.median(results["ours"]), statistics.median(results["stock"])
    print(f"median: ours {mine * 1e6:.1f} µs, twilio's aiohttp client {theirs * 1e6:.1f} µs "
          f"per message: {mine / theirs:.2f} of it")


if __name__ == "__main__":
    main()

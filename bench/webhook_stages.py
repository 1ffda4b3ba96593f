"""Where an inbound webhook's time goes, stage by stage, in one process (no HTTP server).

    python bench/webhook_stages.py [--requests 4000] [--rounds 5]

Runs the webhook's own functions on the benchmark's mix of inbound messages (40 % Start, 20 % Stop,
40 % questions, each from its own number and MessageSid) and prints the CPU time of each stage
per request, next to a whole ``GET /healthz`` and a whole ``POST /twilio/messages`` through
the Flask app (no gunicorn). The medians over the rounds are printed; the stages run one after
the other on the same inputs, so their figures can be compared with each other.
"""

import argparse
import os
import statistics
import sys
import time
from urllib.parse import parse_qsl, urlencode

from common import AUTH_TOKEN, PUBLIC_URL, base_env, scratch_dir, seed_subscribers
from webhooks import inbound_mix

from bot import create_app  # noqa: E402  (path set by common)
from bot.platforms import twilio as gateway  # noqa: E402
from bot.domain import citizens
from bot.phone import e164
from bot.web.database import get_db
from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request


def environ_for(path, params=None):
    if params is None:
        return EnvironBuilder(path=path).get_environ()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, params)
    return EnvironBuilder(path=path, method="POST", data=urlencode(params),
                          content_type="application/x-www-form-urlencoded",
                          headers={"X-Twilio-Signature": signature}).get_environ()


def cpu_per_item(items, work):
    started = time.process_time()
    for item in items:
        work(item)
    return (time.process_time() - started) / len(items) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    env = base_env(scratch_dir("bench-stages-"), PUBLIC_URL=PUBLIC_URL)
    seed_subscribers(env, 20_000)
    os.environ.update(env)
    app = create_app()
    url = PUBLIC_URL + "/twilio/messages"

    def call(environ):
        response = app.wsgi_app(environ, lambda status, headers, exc_info=None: None)
        b"".join(response)
        response.close()

    figures = {}
    for round_no in range(args.rounds):
        mix = [dict(p, MessageSid=p["MessageSid"].replace("bench", f"r{round_no}x"))
               for p in inbound_mix(args.requests, 20_000)]
        bodies = [urlencode(p) for p in mix]
        forms = [dict(parse_qsl(b, keep_blank_values=True)) for b in bodies]
        signed = [(f, RequestValidator(AUTH_TOKEN).compute_signature(url, f)) for f in forms]
        inbound = [(e164_from_address(f["From"]), f["Body"], f["MessageSid"]) for f in forms]
        channel = app.extensions["infokanal"].channel
        stages = {
            "parse the form (Werkzeug)": (
                [environ_for("/twilio/messages", p) for p in mix], lambda e: Request(e).form),
            "check the signature": (signed, lambda fs: gateway.verify(
                AUTH_TOKEN, url, fs[0], fs[1])),
            "From to E.164 (phonenumbers)": (forms, lambda f: e164_from_address(f["From"])),
            "keyword, hash, encrypt, store": (
                inbound, lambda i: in_app(app, lambda: citizens.handle(get_db(), channel, *i))),
            "whole GET /healthz (Flask)": (
                [environ_for("/healthz") for _ in range(args.requests)], call),
            "whole POST /twilio/messages (Flask)": (
                [environ_for("/twilio/messages", dict(p, MessageSid=p["MessageSid"] + "w"))
                 for p in mix], call),
        }
        for name, (items, work) in stages.items():
            figures.setdefault(name, []).append(cpu_per_item(items, work))
    print(f"CPU per inbound request, median of {args.rounds} rounds of {args.requests} "
          f"(40 % Start, 20 % Stop, 40 % questions), one process, no HTTP server:")
    for name, values in figures.items():
        print(f"  {name:38s} {statistics.median(values):7.1f} us")
    return 0


def e164_from_address(address):
    return e164(gateway.number_of(address))


def in_app(app, function):
    with app.app_context():
        return function()


if __name__ == "__main__":
    sys.exit(main())

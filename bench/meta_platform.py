"""The Meta module's own CPU per message, without the network: the JSON body of one message
of a broadcast (``MetaTransport.body``) in each of its shapes, beside the Twilio transport's
form for the same text; and parsing a webhook's statuses (``parse``), one per POST and batched.

    python bench/meta_platform.py [--messages 200000] [--rounds 3]

Printed: µs per message (or status), the best of the rounds. At the storm night's 1,000
messages a second each message has 1,000 µs of the sender's CPU for everything, and its three
statuses share the web process's.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.platforms import base, meta, twilio  # noqa: E402

TEXT = "Unwetterwarnung: Orkanböen bis 120 km/h. Bleiben Sie im Haus. Mehr: landkreis.de"
WARNING = ("Amtliche Unwetterwarnung vor Orkanböen\n\nEs treten Orkanböen mit Geschwindigkeiten "
           "um 120 km/h auf.\nDabei kann es zu schweren Schäden kommen.\n\nHalten Sie sich "
           "nicht im Freien auf. Schließen Sie Fenster und Türen.\n\nMehr Informationen: "
           "https://warnung.bund.de/meldungen/dwdmap.2.49.0.0.276.0.DWD.PVW.1")
PARAGRAPHS = {None: {2: "warnung_2", 3: "warnung_3", 4: "warnung_4"}}


def recipients(count):
    return [base.OutgoingMessage(to=f"+49151{n:08d}", body=TEXT) for n in range(count)]


def timed(build, messages, rounds):
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for message in messages:
            build(message)
        best = min(best, time.perf_counter() - started)
    return best / len(messages) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    plain = recipients(args.messages)
    warning = [base.OutgoingMessage(to=m.to, body=WARNING) for m in plain]
    with_picture = [base.OutgoingMessage(to=m.to, body=TEXT, media_url="https://kreis.de/a.jpg")
                    for m in plain]
    templated = meta.MetaTransport("token", "1065", template="meldung",
                                   paragraph_names=PARAGRAPHS)
    free_form = meta.MetaTransport("token", "1065")
    shapes = [
        ("meta template, one paragraph", templated.body, plain),
        ("meta paragraph template, four", templated.body, warning),
        ("meta free-form text", free_form.body, plain),
        ("meta picture by link", free_form.body, with_picture),
    ]

    def twilio_form(message):
        sid, variables = twilio._content(message.body, (
            (1, "HX1"), (2, "HX2"), (3, "HX3"), (4, "HX4")))
        return twilio.form_body({"To": twilio.address(message.to), "From": "whatsapp:+4930",
                                 "ContentSid": sid, "ContentVariables": variables,
                                 "StatusCallback": "https://kreis.de/twilio/status"}).encode()

    shapes.append(("twilio form, four paragraphs (for comparison)", twilio_form, warning))
    print(f"{args.messages} messages, best of {args.rounds} rounds")
    for name, build, messages in shapes:
        print(f"  {name:48s} {timed(build, messages, args.rounds):6.2f} µs/message")
    print("webhook statuses parsed")
    for batch in (1, 3, 100):
        body = webhook(batch)
        bodies = [body] * max(1, args.messages // 10 // batch)
        print(f"  {batch:3d} a POST {'':38s} "
              f"{timed(meta.parse, bodies, args.rounds) / batch:6.2f} µs/status")


def webhook(statuses):
    """A webhook as Meta posts it, with ``statuses`` delivered statuses."""
    status = {"id": "wamid.HBgLNDkxNTExMjM0NTY3OBUCABEYEjVCMjQ1QjE0RjM5QzVGN0JGNQA=",
              "status": "delivered", "timestamp": "1765000000", "recipient_id": "4915112345678",
              "conversation": {"id": "c0ffee", "origin": {"type": "utility"}},
              "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"}}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{
        "id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "4930901820", "phone_number_id": "1065"},
            "statuses": [status] * statuses}}]}]}).encode()


if __name__ == "__main__":
    main()

"""The Meta transport's per-message work before the network: the JSON body of one message of
a broadcast (``MetaTransport.body``), in each of its shapes, beside the Twilio transport's form
for the same text. No server, no event loop: only the CPU a message costs to build.

    python bench/meta_body.py [--messages 200000] [--rounds 3]

Printed: µs per message, the best of the rounds, for every shape. At the storm night's
1,000 messages a second the sender has 1,000 µs of CPU a message for everything.
"""

import argparse
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


if __name__ == "__main__":
    main()

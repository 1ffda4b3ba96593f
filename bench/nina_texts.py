"""Cleaning the warning feed's texts: time per field for hostile and ordinary inputs, at sizes
from 20 KB to 5 MB (the largest answer the relay reads), and a whole dashboard.

    python bench/nina_texts.py [--rounds 5]

Prints, per input and size, the median over the rounds of the time ``nina.plain_text`` takes,
and the time per kilobyte: for a cleaner that is linear and bounded (each field is read up to
``nina.MAX_FIELD_CHARS``), the time stops growing with the size. Runs in this process only; no
network.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import nina  # noqa: E402

INPUTS = {
    "'<a' repeated": lambda n: "<a" * (n // 2),
    "unclosed quotes": lambda n: '<a x="' * (n // 6),
    "'<b>x' repeated": lambda n: "<b>x" * (n // 4),
    "escaped twice": lambda n: "&amp;lt;b&amp;gt;x" * (n // 17),
    "lone '<'": lambda n: "<" * n,
    "ordinary text": lambda n: ("Es treten Orkanböen mit Geschwindigkeiten bis 120 km/h auf. "
                                "<br/>Bitte meiden Sie Wälder &amp; Alleen. ") * (n // 100),
}
SIZES = (20_000, 200_000, 1_000_000, 5_000_000)


def timed(function, rounds):
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    print(f"plain_text, median of {rounds} rounds (bound: {nina.MAX_FIELD_CHARS:,} characters)")
    print(f"{'input':18} " + " ".join(f"{size // 1000:>9,} KB" for size in SIZES))
    for name, make in INPUTS.items():
        figures = []
        for size in SIZES:
            text = make(size)
            figures.append(timed(lambda: nina.plain_text(text), rounds))
        print(f"{name:18} " + " ".join(f"{seconds * 1000:>9.2f} ms" for seconds in figures))
    # A dashboard of 300 entries, each headline 16 KB of tags (about 5 MB of JSON, the most
    # the relay reads); headlines are read up to nina.MAX_HEADLINE_CHARS.
    dashboard = json.dumps([
        {"id": f"mow.{n}", "payload": {"version": 1, "hash": str(n), "data": {
            "headline": "<b>x" * 4000, "severity": "Severe", "provider": "MOWAS"}}}
        for n in range(300)]).encode()
    seconds = timed(lambda: nina.parse_dashboard(json.loads(dashboard)), rounds)
    print(f"parse_dashboard, 300 entries, {len(dashboard) / 1e6:.1f} MB: {seconds * 1000:.0f} ms "
          "(in a thread of the worker, not on its event loop)")


if __name__ == "__main__":
    main()

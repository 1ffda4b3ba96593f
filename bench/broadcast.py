"""Broadcast throughput against a fake Twilio API that answers in 150 ms.

    python bench/broadcast.py                 # 10,000 subscribers at SEND_RATE_LIMIT=1000
    python bench/broadcast.py --large 100000  # also: POST time and sender RSS at 100,000

Runs the Procfile's web and worker, posts one broadcast, and reads from the fake API when each
message arrived. In the same run it measures the tutorial loop (one ``messages.create`` after
the other) against the same fake, and prints the ratio.
"""

import argparse
import statistics
import sys
import threading
import time

import requests

from common import (ACCOUNT_SID, ADMIN_TOKEN, AUTH_TOKEN, base_env, cpu_seconds, fake_stats,
                    procfile, rss_mb, scratch_dir, seed_subscribers, start_fake_twilio,
                    start_web)


def tutorial_rate(fake_url, seconds=6.0):
    """The loop from the tutorials: for each subscriber, messages.create, one at a time."""
    from twilio.rest import Client

    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = fake_url
    sent = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        client.messages.create(to=f"whatsapp:+49160{sent:08d}", from_="whatsapp:+4930901820",
                               body="Sturmwarnung")
        sent += 1
    return sent / (time.monotonic() - started)


def post_broadcast(web, text):
    started = time.monotonic()
    response = requests.post(web.url + "/api/broadcasts", json={"text": text},
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60)
    elapsed = time.monotonic() - started
    response.raise_for_status()
    return response.json(), elapsed


def run_throughput(subscribers, rate, latency):
    workdir = scratch_dir("bench-broadcast-")
    fake = start_fake_twilio(latency)
    env = base_env(workdir, TWILIO_API_URL=fake.url, SEND_RATE_LIMIT=rate,
                   SENDER_POLL_SECONDS=0.2, WEB_CONCURRENCY=2)
    seed_subscribers(env, subscribers)
    web = start_web(env)
    worker = procfile("worker", env)
    try:
        time.sleep(2)  # let the worker start before the clock runs
        tutorial = tutorial_rate(fake.url)
        requests.post(fake.url + "/_fake/reset", timeout=5)
        posted_at = time.time()
        cpu_before = cpu_seconds(worker.pid)
        answer, post_seconds = post_broadcast(web, "Unwetterwarnung: Sturmböen bis 100 km/h.")
        deadline = time.monotonic() + subscribers / rate * 4 + 60
        while time.monotonic() < deadline:
            stats = fake_stats(fake)
            if stats["messages"] >= subscribers:
                break
            time.sleep(0.2)
        finished_at = time.time()
        worker_cpu = cpu_seconds(worker.pid) - cpu_before
        stats = fake_stats(fake)
        per_second = [count for _, count in stats["per_second"]]
        full_seconds = per_second[1:-1] or per_second
        result = {
            "subscribers": subscribers, "rate_limit": rate, "latency_ms": latency * 1000,
            "sent": stats["messages"], "api_requests": stats["requests"],
            "post_seconds": post_seconds, "recipients": answer["recipients"],
            "seconds_post_to_last": finished_at - posted_at,
            "sustained_mps": statistics.median(full_seconds) if full_seconds else 0,
            "mean_mps": stats["messages"] / max(1e-9, finished_at - posted_at),
            "max_second": max(per_second) if per_second else 0,
            "tutorial_mps": tutorial,
            "worker_rss_mb": rss_mb(worker.pid),
            "worker_cpu_ms_per_message": worker_cpu / max(1, stats["messages"]) * 1000,
        }
        result["speedup_vs_tutorial"] = result["mean_mps"] / tutorial
        return result
    finally:
        worker.stop()
        web.stop()
        fake.stop()


def run_large(subscribers, rate, latency, seconds=20):
    """POST latency and the sender's memory while it works through a very large broadcast."""
    workdir = scratch_dir("bench-large-")
    fake = start_fake_twilio(latency)
    env = base_env(workdir, TWILIO_API_URL=fake.url, SEND_RATE_LIMIT=rate, WEB_CONCURRENCY=2)
    started = time.monotonic()
    seed_subscribers(env, subscribers)
    seed_seconds = time.monotonic() - started
    web = start_web(env)
    worker = procfile("worker", env)
    try:
        time.sleep(2)
        idle_rss = rss_mb(worker.pid)
        answer, post_seconds = post_broadcast(web, "Probealarm")
        peak = idle_rss
        samples = []
        stop = threading.Event()

        def sample():
            nonlocal peak
            while not stop.is_set():
                value = rss_mb(worker.pid)
                samples.append(value)
                peak = max(peak, value)
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        time.sleep(seconds)  # long enough to see whether memory grows with the work done
        stop.set()
        sampler.join()
        sent = fake_stats(fake)["messages"]
        return {"subscribers": subscribers, "seed_seconds": seed_seconds,
                "recipients": answer["recipients"], "post_seconds": post_seconds,
                "worker_rss_idle_mb": idle_rss, "worker_rss_peak_mb": peak,
                "worker_rss_first_mb": samples[0] if samples else None,
                "worker_rss_last_mb": samples[-1] if samples else None,
                "sent": sent, "seconds": seconds}
    finally:
        worker.stop()
        web.stop()
        fake.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--large", type=int, default=0,
                        help="also run the large-broadcast check with this many subscribers")
    parser.add_argument("--large-seconds", type=int, default=20,
                        help="how long to watch the sender's memory in the large check")
    args = parser.parse_args()
    result = run_throughput(args.subscribers, args.rate, args.latency)
    print(f"broadcast to {result['subscribers']:,} subscribers, SEND_RATE_LIMIT="
          f"{result['rate_limit']:.0f}, fake API latency {result['latency_ms']:.0f} ms")
    print(f"  sent {result['sent']:,} ({result['api_requests']:,} API requests)")
    print(f"  POST /api/broadcasts answered in {result['post_seconds'] * 1000:.0f} ms")
    print(f"  POST to last send: {result['seconds_post_to_last']:.1f} s")
    print(f"  sustained (median of full seconds): {result['sustained_mps']:.0f} msg/s; "
          f"mean {result['mean_mps']:.0f} msg/s; busiest second {result['max_second']}")
    print(f"  tutorial loop in the same run: {result['tutorial_mps']:.1f} msg/s -> "
          f"{result['speedup_vs_tutorial']:.0f}x faster")
    print(f"  worker RSS at the end: {result['worker_rss_mb']:.0f} MB; worker CPU "
          f"{result['worker_cpu_ms_per_message']:.2f} ms per message")
    if args.large:
        large = run_large(args.large, args.rate, args.latency, args.large_seconds)
        print(f"large broadcast: {large['subscribers']:,} subscribers "
              f"(seeded in {large['seed_seconds']:.0f} s)")
        print(f"  POST /api/broadcasts answered in {large['post_seconds'] * 1000:.0f} ms "
              f"for {large['recipients']:,} recipients")
        print(f"  worker RSS: idle {large['worker_rss_idle_mb']:.0f} MB, first sample "
              f"{large['worker_rss_first_mb']:.0f} MB, last {large['worker_rss_last_mb']:.0f} MB, "
              f"peak {large['worker_rss_peak_mb']:.0f} MB while sending "
              f"{large['sent']:,} messages in {large['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The web process's CPU per delivery receipt, Twilio's status callbacks against Meta's webhook
posts, under the Procfile's web command (one worker), on loopback.

    python bench/receipts_per_platform.py [--receipts 6000] [--rounds 3] [--batch 10]

Each round starts a web server per platform and posts the same number of receipts (sent,
delivered, read for a third as many messages) at it, each post on a new connection, 32 at a
time: Twilio's one per request; Meta's one per post, and ``--batch`` per post (Meta sends
both); and Meta's one per post without the connection's short path (STATUS_SHORT_PATH=0), to
show what that path saves. Every receipt is distinct; all are for message ids the database does not know yet, so
each is stored as waiting (the same store work on both platforms). Prints the gunicorn
processes' CPU per receipt (median over the rounds) and Meta's against Twilio's.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import subprocess
from urllib.parse import urlencode

from common import AUTH_TOKEN, base_env, cpu_seconds, procfile, scratch_dir, wait_http
from twilio.request_validator import RequestValidator

from tests.conftest import free_port

APP_SECRET = "bench-app-secret-of-meta"
CONCURRENCY = 32


def twilio_posts(count, port, round_no):
    validator = RequestValidator(AUTH_TOKEN)
    url = f"http://127.0.0.1:{port}/twilio/status"
    posts = []
    for i in range(count):
        sid = f"SM{round_no:04x}{i // 3:028x}"
        status = ("sent", "delivered", "read")[i % 3]
        form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                "SmsStatus": status, "AccountSid": "AC" + "0" * 32,
                "To": "whatsapp:+4915100000001", "From": "whatsapp:+4930901820",
                "ChannelPrefix": "whatsapp", "ApiVersion": "2010-04-01"}
        posts.append(("/twilio/status", urlencode(form).encode(),
                      {"Content-Type": "application/x-www-form-urlencoded",
                       "X-Twilio-Signature": validator.compute_signature(url, form)}))
    return posts


def meta_posts(count, batch, round_no):
    statuses = []
    for i in range(count):
        statuses.append({
            "id": f"wamid.HBgNNDkxNTEx{round_no:04d}{i // 3:024d}",
            "status": ("sent", "delivered", "read")[i % 3], "timestamp": "1765000000",
            "recipient_id": "4915100000001",
            "conversation": {"id": "a75d17ad06104c51166f948319b03c6a",
                             "origin": {"type": "utility"}},
            "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"}})
    posts = []
    for start in range(0, count, batch):
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{
            "id": "102290129340398", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "4930901820",
                             "phone_number_id": "106540352242922"},
                "statuses": statuses[start:start + batch]}}]}]}).encode()
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        posts.append(("/meta/webhook", body, {"Content-Type": "application/json",
                                              "X-Hub-Signature-256": signature}))
    return posts


async def post_all(port, posts):
    queue = list(reversed(posts))
    refused = 0

    async def client():
        nonlocal refused
        while queue:
            path, body, headers = queue.pop()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                         + body)
            answer = await reader.read()
            if not answer.startswith(b"HTTP/1.1 200"):
                refused += 1
            writer.close()

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    return refused


def gunicorn_cpu(web):
    children = subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True, text=True)
    return sum(cpu_seconds(pid) for pid in [web.pid, *map(int, children.stdout.split())])


def measure(platform, receipts, batch, round_no):
    port = free_port()
    settings = {"PUBLIC_URL": f"http://127.0.0.1:{port}", "PORT": port, "WEB_CONCURRENCY": 1}
    if platform == "meta, ASGI path":
        settings["STATUS_SHORT_PATH"] = 0
    if platform.startswith("meta"):
        settings.update(WHATSAPP_PLATFORM="meta", META_ACCESS_TOKEN="bench-token",
                        META_PHONE_NUMBER_ID="106540352242922", META_APP_SECRET=APP_SECRET,
                        META_VERIFY_TOKEN="bench-verify", META_DISPLAY_PHONE_NUMBER="+4930901820",
                        META_TEMPLATE="infokanal_meldung")
    env = base_env(scratch_dir(f"bench-receipts-{platform}-"), **settings)
    web = procfile("web", env)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", web)
        posts = (twilio_posts(receipts, port, round_no) if platform == "twilio"
                 else meta_posts(receipts, batch, round_no))
        before = gunicorn_cpu(web)
        refused = asyncio.run(post_all(port, posts))
        used = gunicorn_cpu(web) - before
    finally:
        web.stop()
    if refused:
        raise SystemExit(f"{platform}: {refused} posts were not answered 200")
    return used / receipts * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()
    shapes = [("twilio", 1), ("meta", 1), ("meta", args.batch), ("meta, ASGI path", 1)]
    figures = {shape: [] for shape in shapes}
    for round_no in range(args.rounds):
        # Taking turns, so that a noisy neighbour on the shared machine hits all alike.
        for shape in shapes[round_no % len(shapes):] + shapes[:round_no % len(shapes)]:
            figures[shape].append(measure(shape[0], args.receipts, shape[1], round_no))
    twilio = statistics.median(figures[("twilio", 1)])
    print(f"{args.receipts} receipts per shape, {args.rounds} rounds, a new connection per post, "
          f"{CONCURRENCY} at a time; gunicorn's CPU per receipt (median):")
    for (platform, batch), values in figures.items():
        per = statistics.median(values)
        shape = "1 per request" if batch == 1 else f"{batch} per post"
        print(f"  {platform:16} {shape:14} {per:7.1f} µs   ({per / twilio:.2f} × Twilio's)")


if __name__ == "__main__":
    main()

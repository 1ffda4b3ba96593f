"""Each platform's fake as the benchmarks drive it: the fake as a process of its own, the
settings that point the project at it, citizens' messages signed as that platform signs its
webhooks, and the fake's figures in the benchmarks' words.

``SIDES["twilio"]`` and ``SIDES["meta"]`` have the same face, so that one scenario
(``worst_night.py``) runs on either.
"""

import hashlib
import hmac
import json
import sys
import time

import requests
from common import AUTH_TOKEN, Proc, free_port, wait_http
from twilio.request_validator import RequestValidator

COUNTY = "+4930901820"


class TwilioSide:
    name = "twilio"
    label = "fake Twilio"
    webhook_path = "/twilio/messages"
    replies_by_api = False  # the answer to a citizen travels in the webhook's own answer

    def start_fake(self, latency):
        port = free_port()
        fake = Proc([sys.executable, "-m", "tests.fake_twilio", "--port", str(port),
                     "--latency", str(latency)], {}, "fake-twilio")
        fake.url = f"http://127.0.0.1:{port}"
        wait_http(fake.url + "/_fake/stats", fake)
        return fake

    def env(self, fake, public_url):
        # base_env holds the Twilio account; the sender's callbacks go to PUBLIC_URL.
        return {"TWILIO_API_URL": fake.url}

    def receipts(self, fake, public_url, delay, keepalive=False, batch=1):
        configure(fake, callbacks=["sent", "delivered", "read"], callback_delay=delay,
                  callback_keepalive=keepalive)

    def stats(self, fake):
        stats = figures(fake)
        callbacks = stats["callbacks"]
        taken = sum(v for k, v in callbacks.items() if k.isdigit() and 200 <= int(k) < 300)
        # Twilio never posts a callback twice: one not taken is lost.
        return {"messages": stats["messages"], "last_at": stats["last_at"], "taken": taken,
                "refused": sum(callbacks.values()) - taken, "given_up": None,
                "detail": callbacks}

    def sent(self, fake, to=None, since=None):
        """Messages the fake took, and when the last came. Only broadcasts reach the fake
        Twilio here (answers travel in the webhook's answer), so no filter is needed."""
        stats = figures(fake)
        return {"messages": stats["messages"], "last_at": stats["last_at"]}

    def reply_times(self, fake, numbers):
        return {}

    def trace(self, fake):
        return figures(fake)["callbacks"]

    def pending(self, fake):
        return 0  # the fake Twilio posts each callback once, at once

    def inbound(self, session, url, public_url):
        return TwilioInbound(session, url, public_url)


class TwilioInbound:
    """Posts signed inbound messages the way Twilio does (a form, X-Twilio-Signature)."""

    def __init__(self, session, url, public_url):
        self.session = session
        self.url = url + TwilioSide.webhook_path
        self.signed_url = public_url + TwilioSide.webhook_path
        self.validator = RequestValidator(AUTH_TOKEN)
        self.sequence = 0

    def message(self, number, body):
        self.sequence += 1
        sid = f"SMnight{self.sequence:026d}"
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
                  "From": f"whatsapp:{number}", "To": f"whatsapp:{COUNTY}", "Body": body,
                  "NumMedia": "0", "WaId": number[1:]}
        return params

    async def post(self, message):
        signature = self.validator.compute_signature(self.signed_url, message)
        async with self.session.post(self.url, data=message,
                                     headers={"X-Twilio-Signature": signature}) as response:
            await response.read()
            return response.status


META_TOKEN = "bench-meta-access-token-not-a-real-one"
META_APP_SECRET = "bench-meta-app-secret"
META_VERIFY_TOKEN = "bench-meta-verify-token"
META_PHONE_NUMBER_ID = "109876543210987"
META_TEMPLATE = "infokanal_broadcast"


class MetaSide:
    name = "meta"
    label = "fake Graph API"
    webhook_path = "/meta/webhook"
    replies_by_api = True  # answers to citizens are queued and sent by the worker

    def start_fake(self, latency):
        port = free_port()
        fake = Proc([sys.executable, "-m", "tests.fake_meta", "--port", str(port),
                     "--latency", str(latency), "--access-token", META_TOKEN,
                     "--app-secret", META_APP_SECRET, "--phone-number-id",
                     META_PHONE_NUMBER_ID], {}, "fake-meta")
        fake.url = f"http://127.0.0.1:{port}"
        wait_http(fake.url + "/_fake/stats", fake)
        # The citizens' messages come from here, not through the fake, so it cannot know who
        # wrote within 24 hours: its window is off, and answers go out as text, as they would.
        configure(fake, service_window_seconds=None)
        return fake

    def env(self, fake, public_url):
        return {"WHATSAPP_PLATFORM": "meta", "META_ACCESS_TOKEN": META_TOKEN,
                "META_PHONE_NUMBER_ID": META_PHONE_NUMBER_ID, "META_APP_SECRET": META_APP_SECRET,
                "META_VERIFY_TOKEN": META_VERIFY_TOKEN, "META_API_URL": fake.url,
                "META_DISPLAY_PHONE_NUMBER": COUNTY,
                # A broadcast goes out as an approved template, as it must on Meta (the fake
                # knows this one: German, one body parameter).
                "META_TEMPLATE": META_TEMPLATE}

    def receipts(self, fake, public_url, delay, keepalive=False, batch=1, connections=512):
        # Meta posts to the one address the app's dashboard names, with every status it has
        # ready in one POST or one to a POST; both happen.
        # Batched: what is ready within 50 ms goes together, up to ``batch`` statuses. Up to
        # 512 posts at once, as the fake Twilio's: each waits for the app's group commit
        # (50 ms), so the fake's default 64 connections carry at most some 1,300 posts a
        # second, fewer than the 2,400 single statuses a second of 800 messages.
        configure(fake, webhook_url=public_url + self.webhook_path,
                  statuses=["sent", "delivered", "read"], status_delay=delay,
                  status_batch=batch, webhook_batch_seconds=0.05 if batch > 1 else 0.0,
                  webhook_connections=connections)

    def stats(self, fake):
        stats = figures(fake)
        webhooks = stats["webhooks"]
        taken = sum(v for k, v in webhooks.items() if k == "200")
        # Meta posts a webhook again until it is answered 200: one not taken is lost only
        # when the fake gives up on it.
        return {"messages": stats["messages"], "last_at": stats["last_at"], "taken": taken,
                "refused": sum(webhooks.values()) - taken,
                "given_up": stats.get("webhooks_given_up", 0), "detail": webhooks,
                "statuses_posted": stats.get("statuses_posted"), "types": stats.get("types"),
                "failed": stats.get("refused"),
                "missing": stats.get("missing", {})}

    def sent(self, fake, to=None, since=None):
        """Messages the fake took to numbers starting with ``to`` after ``since`` (the
        worker also sends welcomes and citizens' answers here), and when the last came."""
        if to is None and since is None:
            return {"messages": figures(fake)["messages"], "last_at": None}
        answer = requests.get(fake.url + "/_fake/sent", timeout=30, params={
            "to": (to or "+")[1:], "since": since or 0}).json()
        return {"messages": answer["messages"], "last_at": answer["last_at"]}

    def trace(self, fake):
        stats = figures(fake)
        return {"acknowledged": stats["acknowledged"], "posts": stats["webhook_posts"]}

    def pending(self, fake):
        """Webhooks the fake has still to post, or to post again."""
        posts = figures(fake)["webhook_posts"]
        return posts.get("pending", 0)

    def reply_times(self, fake, numbers):
        """When the fake took a message to each of ``numbers`` (E.164), first one each."""
        answer = requests.post(fake.url + "/_fake/first_sent", timeout=30,
                               json={"to": [number[1:] for number in numbers]}).json()
        return {"+" + to: at for to, at in answer.items() if at is not None}

    def inbound(self, session, url, public_url):
        return MetaInbound(session, url)


class MetaInbound:
    """Posts signed inbound text messages the way Meta does (JSON, X-Hub-Signature-256)."""

    def __init__(self, session, url):
        self.session = session
        self.url = url + MetaSide.webhook_path
        self.sequence = 0

    def message(self, number, body):
        self.sequence += 1
        digits = number[1:]
        value = {"messaging_product": "whatsapp",
                 "metadata": {"display_phone_number": COUNTY[1:],
                              "phone_number_id": META_PHONE_NUMBER_ID},
                 "contacts": [{"profile": {"name": "Bürgerin"}, "wa_id": digits}],
                 "messages": [{"from": digits, "id": f"wamid.night{self.sequence:026d}",
                               "timestamp": str(int(time.time())), "type": "text",
                               "text": {"body": body}}]}
        payload = {"object": "whatsapp_business_account",
                   "entry": [{"id": "102290129340398",
                              "changes": [{"field": "messages", "value": value}]}]}
        # The same bytes on every try: Meta posts a webhook again as it was.
        return json.dumps(payload, ensure_ascii=False).encode()

    async def post(self, body):
        signature = "sha256=" + hmac.new(META_APP_SECRET.encode(), body,
                                         hashlib.sha256).hexdigest()
        async with self.session.post(self.url, data=body, headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature}) as response:
            await response.read()
            return response.status


SIDES = {"twilio": TwilioSide(), "meta": MetaSide()}


def figures(fake):
    return requests.get(fake.url + "/_fake/stats", timeout=30).json()


def configure(fake, **settings):
    answer = requests.post(fake.url + "/_fake/config", data=json.dumps(settings), timeout=10)
    answer.raise_for_status()

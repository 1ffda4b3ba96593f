"""A fake of the federal warning feed (NINA) on loopback, for tests.

It answers ``GET /dashboard/<ARS>.json`` and ``GET /warnings/<id>.json`` in the shapes the real
API uses (a list of dashboard entries with a payload of version, hash and data; CAP-shaped
details with ``info`` blocks), and a test scripts it: add, update, cancel and remove warnings,
and make the dashboard or one detail answer 500, hang past the client's timeout, or answer
garbage. ``nina_api`` is the fixture (import it into a test module to use it).
"""

import asyncio
import hashlib
import itertools
import threading
from collections import Counter

import pytest
from aiohttp import web

ARS = "033560000000"  # Osterholz
_ids = itertools.count(1)
_PREFIX = {"mowas": ("mow", "MOWAS"), "katwarn": ("kat", "KATWARN"),
           "biwapp": ("biw", "BIWAPP"), "dwd": ("dwdmap", "DWD"), "lhp": ("lhp", "LHP"),
           "police": ("pol", "POLICE")}


def info_block(headline, description="", instruction="", severity="Severe", language="de-DE",
               web_url=None, **extra):
    block = {"language": language, "category": ["Safety"], "event": "Gefahreninformation",
             "urgency": "Immediate", "severity": severity, "certainty": "Observed",
             "headline": headline, "description": description, "instruction": instruction,
             "contact": "Leitstelle", "parameter": [],
             "area": [{"areaDesc": "Landkreis Osterholz", "geocode": [
                 {"valueName": "AreaId", "value": "0"}]}]}
    if web_url is not None:
        block["web"] = web_url
    block.update(extra)
    return block


class FakeNina:
    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.port = 0
        self.ars = ARS
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self.warnings = {}            # id → state, in the order added
            self.failure = None           # None, 500, "timeout", "garbage" or "shape"
            self.detail_failures = {}     # warning id → the same
            self.hang_seconds = 5.0       # how long a "timeout" answer takes
            self.dashboards_served = 0    # dashboards answered normally
            self.dashboard_requests = 0
            self.detail_requests = Counter()
            # warning id → the number of the first normal dashboard that listed it
            self.first_listed = {}

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    # -- scripting ----------------------------------------------------------------------------

    def add(self, headline="Großbrand in Osterholz-Scharmbeck", severity="Severe",
            description="Starke Rauchentwicklung im Ortsteil Buschhausen.",
            instruction="Fenster und Türen geschlossen halten.", provider="mowas",
            infos=None, warning_id=None, msg_type="Alert", references=None, status="Actual",
            web_url=None, languages=None):
        """A new warning. ``languages``: further info blocks, {language as the feed labels it
        ("en-US", "de-LS"): (headline, description, instruction)}, after the German one."""
        prefix, _ = _PREFIX[provider]
        if languages:
            infos = (infos or [info_block(headline, description, instruction, severity,
                                          web_url=web_url)]) + [
                info_block(*texts, severity=severity, language=tag)
                for tag, texts in languages.items()]
        warning_id = warning_id or f"{prefix}.DE-NI-OHZ-W{next(_ids):03d}-20261124-000"
        state = {"provider": provider, "version": 1, "msg_type": msg_type, "status": status,
                 "references": references, "sent": f"2026-11-24T03:{len(self.warnings):02d}:00+01:00",
                 "infos": infos or [info_block(headline, description, instruction, severity,
                                               web_url=web_url)]}
        with self._lock:
            self.warnings[warning_id] = state
        return warning_id

    def update(self, warning_id, msg_type="Update", languages=None, **changes):
        """A new revision: version and hash change; ``changes`` go into every info block,
        ``languages`` ({language: {field: value}}) into the block of that language only."""
        with self._lock:
            state = self.warnings[warning_id]
            state["version"] += 1
            state["msg_type"] = msg_type
            for block in state["infos"]:
                block.update(changes)
                block.update((languages or {}).get(block["language"], {}))

    def cancel(self, warning_id, **changes):
        self.update(warning_id, msg_type="Cancel", **changes)

    def remove(self, warning_id):
        with self._lock:
            del self.warnings[warning_id]

    # -- answers ------------------------------------------------------------------------------

    def _hash(self, warning_id, state):
        return hashlib.sha256(f"{warning_id}:{state['version']}:{state['infos']}".encode()
                              ).hexdigest()

    def _entry(self, warning_id, state):
        info = state["infos"][0]
        return {"id": warning_id,
                "payload": {"version": state["version"], "type": "ALERT", "id": warning_id,
                            "hash": self._hash(warning_id, state),
                            "data": {"headline": info["headline"],
                                     "provider": _PREFIX[state["provider"]][1],
                                     "severity": info["severity"], "msgType": state["msg_type"],
                                     "transKeys": {"event": "BBK-EVC-040"},
                                     "area": {"type": "ZGEM", "data": "1+3356"}}},
                # The dashboard titles each language by its primary subtag, as the real one.
                "i18nTitle": {block["language"].split("-")[0].lower(): block["headline"]
                              for block in reversed(state["infos"])},
                "sent": state["sent"]}

    def _detail(self, warning_id, state):
        detail = {"identifier": warning_id, "sender": "DE-NI-OHZ", "sent": state["sent"],
                  "status": state["status"], "msgType": state["msg_type"], "scope": "Public",
                  "code": ["DVN:2"], "info": state["infos"]}
        if state["references"]:
            detail["references"] = state["references"]
        return detail

    async def _fail(self, failure):
        if failure == 500:
            return web.Response(status=500, text="Internal Server Error")
        if failure == "timeout":
            await asyncio.sleep(self.hang_seconds)
            return web.json_response([])
        if failure == "garbage":
            return web.Response(text="<html><body>Wartungsarbeiten</body></html>",
                                content_type="text/html")
        return web.json_response({"error": "unexpected"})  # "shape"

    async def _dashboard(self, request):
        with self._lock:
            self.dashboard_requests += 1
            failure = self.failure
        if failure is not None:
            return await self._fail(failure)
        if request.match_info["ars"] != self.ars:
            return web.json_response([])
        with self._lock:
            self.dashboards_served += 1
            answer = []
            for warning_id, state in self.warnings.items():
                self.first_listed.setdefault(warning_id, self.dashboards_served)
                answer.append(self._entry(warning_id, state))
        return web.json_response(answer)

    async def _warning(self, request):
        warning_id = request.match_info["id"]
        with self._lock:
            self.detail_requests[warning_id] += 1
            failure = self.detail_failures.get(warning_id)
            state = self.warnings.get(warning_id)
            detail = self._detail(warning_id, state) if state else None
        if failure is not None:
            return await self._fail(failure)
        if detail is None:
            return web.Response(status=404, text="Not Found")
        return web.json_response(detail)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self):
        ready = threading.Event()

        async def serve():
            app = web.Application()
            app.router.add_get("/dashboard/{ars}.json", self._dashboard)
            app.router.add_get("/warnings/{id}.json", self._warning)
            # A hanging answer must not hold up the end of the test session.
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]

        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-nina", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake NINA did not start")
        return self

    def stop(self):
        async def shutdown():
            await self._runner.cleanup()
            # Answers still hanging ("timeout") end here, not as tasks destroyed with the loop.
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="session")
def fake_nina():
    fake = FakeNina().start()
    yield fake
    fake.stop()


@pytest.fixture
def nina_api(fake_nina):
    fake_nina.reset()
    return fake_nina

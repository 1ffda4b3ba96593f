# Read by gunicorn from the working directory; every value can be overridden on the command line.
import os

from dotenv import dotenv_values

from bot.config import start_banner
from bot.logs import ACCESS_FORMAT, gunicorn_config

# The operator's .env may hold WEB_CONCURRENCY, WEB_THREADS and ACCESS_LOG; the environment wins,
# as in the app. Read, not loaded into os.environ: workers inherit the master's environment, and
# a DATA_KEY put there would outlive the .env change that a reload (HUP) is meant to pick up.
_configured = {**dotenv_values(os.path.join(os.getcwd(), ".env")), **os.environ}

# gunicorn's asyncio worker with our front (bot/web/gunicorn_worker.py): connections wait on an
# event loop, not in threads, and status callbacks never reach Flask.
worker_class = _configured.get("WEB_WORKER_CLASS") or "bot.web.gunicorn_worker.FrontWorker"
# One worker per two cores. Connections wait on each worker's event loop, not in its threads,
# so a worker is not a connection's slot any more; fewer workers share each commit of status
# callbacks and each wake-up of the loop. On the worst night (bench/worst_night.py, 2 cores)
# one worker took the callbacks for 0.61 ms of CPU per message, two for 0.73, three for 0.76.
# The other core is the sender's. Flask's requests run in ``threads`` per worker.
workers = int(_configured.get("WEB_CONCURRENCY") or max(1, (os.cpu_count() or 1) // 2))
threads = int(_configured.get("WEB_THREADS") or 4)
keepalive = 5
# No access log by default: nothing is safer than none. With ACCESS_LOG (- or a file) the lines
# carry no client address, and phone numbers and tokens in request lines are masked.
accesslog = _configured.get("ACCESS_LOG") or None
access_log_format = ACCESS_FORMAT
errorlog = "-"
logconfig_dict = gunicorn_config(accesslog)
logger_class = "bot.web.gunicorn_worker.Logger"
graceful_timeout = 20
# gunicorn 27's control socket defaults to one path per user: a second instance on the same host
# (another county, a test server) would take it over. Nothing here uses it.
control_socket_disable = True


def when_ready(server):
    """Once per start of the web server, in the master: each worker builds its own app, and a
    banner there came once per worker."""
    banner = start_banner(_configured)
    if banner:
        server.log.warning(banner)

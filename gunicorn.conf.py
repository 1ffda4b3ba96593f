# Read by gunicorn from the working directory; every value can be overridden on the command line.
import os

from bot.logs import ACCESS_FORMAT, gunicorn_config

workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 5
# No access log by default: nothing is safer than none. With ACCESS_LOG (- or a file) the lines
# carry no client address, and phone numbers and tokens in request lines are masked.
accesslog = os.environ.get("ACCESS_LOG") or None
access_log_format = ACCESS_FORMAT
errorlog = "-"
logconfig_dict = gunicorn_config(accesslog)
graceful_timeout = 20
# gunicorn 27's control socket defaults to one path per user: a second instance on the same host
# (another county, a test server) would take it over. Nothing here uses it.
control_socket_disable = True

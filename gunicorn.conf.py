# Read by gunicorn from the working directory; every value can be overridden on the command line.
import os

workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 5
# No access log by default: request lines carry no phone numbers, but nothing is safer than none.
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
graceful_timeout = 20

"""The gunicorn worker class of the web process (``gunicorn.conf.py`` names it).

gunicorn's own asyncio worker, which multiplexes connections on an event loop, running our
``Front`` around the Flask app that ``wsgi:app`` loads, so that the Procfile's command and
``wsgi.py`` stay what they were. ``threads`` (``WEB_THREADS``) sizes the pool that runs Flask.
"""

from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.workers.gasgi import ASGIWorker

from ..process import tune_gc
from .front import Front


class FrontWorker(ASGIWorker):
    @classmethod
    def check_config(cls, cfg, log):
        """gunicorn warns that its ASGI worker ignores ``threads``; this one uses them."""

    def load_wsgi(self):
        self.asgi = Front(self.app.wsgi(), threads=max(1, self.cfg.threads))
        tune_gc()


class Logger(GunicornLogger):
    """gunicorn's logger, building access log lines only when there is an access log.

    gunicorn counts any ``logconfig_dict`` as an access log; ours always has one (it masks
    numbers in the error log), so every request paid for a line that no handler wrote.
    """

    def _compute_access_log_enabled(self):
        return bool(self.cfg.accesslog)
